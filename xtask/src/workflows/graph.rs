//! The job graph: each workflow's triggers, jobs, needs, matrices, conditions, environment and
//! steps, as values. `cargo xtask workflows` renders them as YAML (`xtask-tools`) and
//! `cargo xtask ci` runs them on this machine (`local_ci`): one source, so the file GitHub
//! runs and the pipeline a maintainer runs cannot disagree.

use super::pins::Pin;

pub struct Workflow {
    pub file: &'static str,
    pub name: &'static str,
    /// One line on what it is, for the header.
    pub title: &'static str,
    pub triggers: Vec<Trigger>,
    /// The concurrency group's prefix (the ref follows), and whether a new run cancels the old.
    pub concurrency: (&'static str, bool),
    pub jobs: Vec<Job>,
}

pub enum Trigger {
    /// Pushes to these branches (touching one of `paths`, when there are any).
    Push {
        branches: Vec<&'static str>,
        paths: Vec<String>,
    },
    PullRequest,
    /// By hand; with the boolean input `force_rebuild` when `force` is set.
    Dispatch {
        force: bool,
    },
    /// On a schedule, on the default branch (`cron`, UTC).
    Schedule {
        cron: &'static str,
    },
}

impl Workflow {
    /// Whether the workflow runs on `event` (`push`, `pull_request`).
    pub fn runs_on(&self, event: &str) -> bool {
        self.triggers.iter().any(|t| match t {
            Trigger::Push { .. } => event == "push",
            Trigger::PullRequest => event == "pull_request",
            Trigger::Dispatch { .. } => event == "workflow_dispatch",
            Trigger::Schedule { .. } => event == "schedule",
        })
    }
}

pub struct Job {
    pub id: &'static str,
    /// The name GitHub shows; `{axis}` stands for the matrix value.
    pub name: String,
    /// Lines said above the job.
    pub comment: Vec<String>,
    pub needs: Vec<&'static str>,
    /// When it runs; `None`: when every job it needs succeeded.
    pub condition: Option<Condition>,
    pub runs_on: RunsOn,
    /// Permissions it writes with, each with the reason (said beside it); every job reads the
    /// repository's contents, and nothing else unless said here.
    pub writes: Vec<(&'static str, &'static str)>,
    /// The deployment environment it runs in (`github-pages`), and the URL it deploys to.
    pub environment: Option<(&'static str, Value)>,
    pub outputs: Vec<(&'static str, Value)>,
    pub matrix: Option<Matrix>,
    pub steps: Vec<Step>,
}

/// A GitHub-hosted runner's label, or the matrix axis that holds it.
pub enum RunsOn {
    Label(&'static str),
    Axis(&'static str),
}

pub struct Matrix {
    pub fail_fast: Option<bool>,
    pub axes: Vec<(&'static str, Vec<String>)>,
    /// Values added to the combinations that match an entry's values of the axes.
    pub include: Vec<Vec<(&'static str, String)>>,
}

pub enum Step {
    /// An action (setup): stood in for by `cargo xtask ci`.
    Uses(Uses),
    /// `cargo xtask …`: what `cargo xtask ci` runs.
    Xtask(Xtask),
}

pub struct Uses {
    pub role: Role,
    pub action: Pin,
    pub with: Vec<(&'static str, Value)>,
    pub comment: Vec<String>,
    /// Rendered as comments: there, but off (Cachix disabled by `rollback --disable-cachix`).
    pub disabled: bool,
    pub id: Option<&'static str>,
    /// When it runs; `None`: when every step before it succeeded.
    pub condition: Option<Condition>,
}

pub struct Xtask {
    pub id: Option<&'static str>,
    pub condition: Option<Condition>,
    pub comment: Vec<String>,
    pub args: Vec<Word>,
    pub env: Vec<(&'static str, Value)>,
    /// Said at the end of the `run:` line (a linter's finding ignored, with the reason above).
    pub line_comment: Option<&'static str>,
    /// What this machine must have to run it here (GitHub's runners have both).
    pub needs_engine: bool,
    pub needs_buildah: bool,
}

/// What a setup action is for: what `cargo xtask ci` stands in for it with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Checkout,
    InstallNix,
    /// cachix-action: the cache as a substituter, authenticated.
    Cachix,
    /// actions/cache over the local binary cache directory (rollback mode).
    NixCache,
    /// actions/cache/save of the local binary cache directory, once `verify --repair` replaced
    /// the entry it was restored from.
    NixCacheSave,
    /// actions/cache over the xtask's binary (`target/xtask-bin`).
    XtaskBinary,
    /// actions/cache/save of the records a job's tasks kept (`target/xtask-history`, Cachix).
    RecordsSave,
    /// actions/cache/restore of the newest history a workflow saved.
    HistoryRestore,
    /// actions/cache/restore of one job leg's records.
    RecordsRestore,
    /// actions/cache/save of the history, this run's records with it.
    HistorySave,
    /// actions/upload-pages-artifact of the dashboard.
    PagesUpload,
    /// actions/deploy-pages of the uploaded dashboard.
    PagesDeploy,
}

/// A word of a `cargo xtask` command line.
#[derive(Clone)]
pub enum Word {
    Lit(&'static str),
    /// `"$NAME"`: an environment variable of the step.
    Var(&'static str),
    /// `FLAG="$NAME"`.
    Flag(&'static str, &'static str),
    /// `"ghcr.io/$REPOSITORY"`: the registry images are pushed to (`cargo xtask ci --registry`).
    Registry,
}

/// The value of an environment variable or an action's input.
#[derive(Clone)]
pub enum Value {
    Lit(String),
    /// A block of lines (`|`).
    Lines(Vec<String>),
    Matrix(&'static str),
    Needs {
        job: &'static str,
        output: &'static str,
    },
    Step {
        step: &'static str,
        output: &'static str,
    },
    /// `github.<field>`: `repository`, `sha`, `actor`.
    Github(&'static str),
    Secret(&'static str),
    /// A boolean input of a dispatch, false when absent.
    Input(&'static str),
    /// `toJSON(needs)`.
    NeedsJson,
    /// `toJSON(matrix)`: a matrix job's values, for its tasks' records.
    MatrixJson,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    /// A push to the default branch.
    DefaultBranchPush,
    /// Whatever the jobs it needs did.
    Always,
    /// Whatever happened before it, on a push to the default branch.
    AlwaysOnDefaultBranchPush,
    /// A repository variable equal to a value.
    Var { name: &'static str, equals: &'static str },
    /// An output of a step before it, equal to a value.
    Output { step: &'static str, output: &'static str, equals: &'static str },
}

impl Xtask {
    pub fn new(args: impl IntoIterator<Item = Word>) -> Xtask {
        Xtask {
            id: None,
            condition: None,
            comment: Vec::new(),
            args: args.into_iter().collect(),
            env: Vec::new(),
            line_comment: None,
            needs_engine: false,
            needs_buildah: false,
        }
    }

    pub fn id(mut self, id: &'static str) -> Xtask {
        self.id = Some(id);
        self
    }

    pub fn when(mut self, condition: Condition) -> Xtask {
        self.condition = Some(condition);
        self
    }

    pub fn comment(mut self, lines: &[&str]) -> Xtask {
        self.comment = lines.iter().map(|l| (*l).to_owned()).collect();
        self
    }

    pub fn env(mut self, env: impl IntoIterator<Item = (&'static str, Value)>) -> Xtask {
        self.env.extend(env);
        self
    }

    /// Whether it pushes to the registry (`--registry` stands in for GHCR).
    pub fn pushes_images(&self) -> bool {
        self.args.iter().any(|w| matches!(w, Word::Registry))
    }
}

impl Job {
    pub fn new(id: &'static str, name: impl Into<String>, runs_on: RunsOn) -> Job {
        Job {
            id,
            name: name.into(),
            comment: Vec::new(),
            needs: Vec::new(),
            condition: None,
            runs_on,
            writes: Vec::new(),
            environment: None,
            outputs: Vec::new(),
            matrix: None,
            steps: Vec::new(),
        }
    }

    pub fn needs(mut self, needs: &[&'static str]) -> Job {
        self.needs = needs.to_vec();
        self
    }

    pub fn when(mut self, condition: Condition) -> Job {
        self.condition = Some(condition);
        self
    }

    pub fn matrix(mut self, matrix: Matrix) -> Job {
        self.matrix = Some(matrix);
        self
    }

    /// Adds steps; a matrix job's tasks get its values (`XTASK_MATRIX`), for their records.
    pub fn steps(mut self, steps: impl IntoIterator<Item = Step>) -> Job {
        let matrix = self.matrix.is_some();
        self.steps.extend(steps.into_iter().map(|step| match step {
            Step::Xtask(xtask) if matrix => Step::Xtask(xtask.env([(crate::record::MATRIX, Value::MatrixJson)])),
            step => step,
        }));
        self
    }

    pub fn xtask_steps(&self) -> impl Iterator<Item = &Xtask> {
        self.steps.iter().filter_map(|s| match s {
            Step::Xtask(x) => Some(x),
            Step::Uses(_) => None,
        })
    }
}
