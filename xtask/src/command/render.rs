//! A [`Cmd`] as the shell line a maintainer could paste.

use super::{Arg, Cmd, Slots, Stdin};

/// Slots with more words than this are printed as their placeholder and a count.
const LONGEST_SLOT: usize = 12;

impl Cmd {
    /// The command as a shell line, secrets redacted (slots as their placeholders without `slots`).
    pub fn render(&self, slots: Option<&dyn Slots>) -> String {
        let mut words: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={}", shell_quote(v))).collect();
        words.push(shell_quote(&self.program));
        for arg in &self.args {
            match (arg, slots) {
                (Arg::Lit(s), _) => words.push(shell_quote(s)),
                (Arg::Slot(slot), Some(slots)) => match slots.words(*slot) {
                    // A log line, not a command to paste: hundreds of store paths say nothing.
                    filled if filled.len() > LONGEST_SLOT => words.push(format!("{} ({} paths)", slot.0, filled.len())),
                    filled => words.extend(filled.iter().map(|p| shell_quote(p))),
                },
                (Arg::Slot(slot) | Arg::Joined(slot), None) => words.push(slot.0.to_owned()),
                (Arg::Joined(slot), Some(slots)) => words.push(shell_quote(&slots.words(*slot).join(" "))),
            }
        }
        let mut line = words.join(" ");
        match &self.stdin {
            Stdin::Null => {}
            Stdin::Slot(slot) => line = format!("printf '%s\\n' {} | {line}", slot.0),
            Stdin::File(path) => line = format!("{line} < {}", shell_quote(&path.display().to_string())),
            Stdin::Env(var) => line = format!("printf '%s' \"${var}\" | {line}"),
            Stdin::EnvLine { before, var } => line = format!("printf '{before}%s\\n' \"${var}\" | {line}"),
        }
        let stdout = self.stdout_to.as_ref().map(|to| format!(" > {}", shell_quote(&to.display().to_string())));
        crate::secrets::redact(&format!("{line}{}", stdout.unwrap_or_default()))
    }
}

/// Quotes a word for a POSIX shell when it needs it.
pub(crate) fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty() && word.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./:=@+,%^".contains(&b));
    match plain {
        true => word.to_owned(),
        false => format!("'{}'", word.replace('\'', r"'\''")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{lit, Slot, Words};
    use super::*;

    const PUSH: Slot = Slot("<paths the cache lacks>");

    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(shell_quote("nix"), "nix");
        assert_eq!(shell_quote("nix-command flakes"), "'nix-command flakes'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn renders_placeholders_in_a_dry_run_and_paths_when_known() {
        let cmd = Cmd::new("nix", [lit("copy"), Arg::Slot(PUSH)]);
        assert_eq!(cmd.render(None), "nix copy <paths the cache lacks>");
        let filled = Words(vec!["/nix/store/a-x".into(), "/nix/store/b-y".into()]);
        assert_eq!(cmd.render(Some(&filled)), "nix copy /nix/store/a-x /nix/store/b-y");
        let piped = Cmd::lits("cachix", ["push"]).stdin(Stdin::Slot(PUSH));
        assert_eq!(piped.render(None), "printf '%s\\n' <paths the cache lacks> | cachix push");
    }
}
