//! The job graph: each workflow's triggers, jobs, needs, matrices, conditions, environment and
//! steps, as values. `cargo xtask workflows` renders them as YAML (`xtask-tools`) and
//! `cargo xtask ci` runs them on this machine (`local_ci`): one source, so the file GitHub
//! runs and the pipeline a maintainer runs cannot disagree.

use super::pins::Pin;

/// A generated workflow: its file, triggers, concurrency and jobs.
pub struct Workflow {
    /// Its path in the repository (`.github/workflows/ci.yml`).
    pub file: &'static str,
    /// The name GitHub shows (`name:`).
    pub name: &'static str,
    /// One line on what it is, for the header.
    pub title: &'static str,
    /// The events it runs on (`on:`).
    pub triggers: Vec<Trigger>,
    /// The concurrency group's prefix (the ref follows), and which runs a new run cancels.
    pub concurrency: (&'static str, Cancel),
    /// Its jobs, in the order the file lists them.
    pub jobs: Vec<Job>,
}

/// Which run in progress a new run of the same concurrency group cancels (`cancel-in-progress`);
/// a run it does not cancel finishes first, and GitHub keeps the newest run pending after it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cancel {
    /// None: every run finishes what it started.
    Never,
    /// A pull request's: its new commit makes the old run's answer moot. A run of a branch
    /// publishes, and a run cancelled halfway through its publish would leave its tags half moved.
    PullRequests,
}

/// An event a workflow runs on (`on:`).
pub enum Trigger {
    /// Pushes to these branches (touching one of `paths`, when there are any).
    Push {
        /// The branches whose pushes it runs on.
        branches: Vec<&'static str>,
        /// The paths a push must touch one of; empty, any push to the branches.
        paths: Vec<String>,
    },
    /// A pull request opened or updated.
    PullRequest,
    /// By hand; with the boolean input `force_rebuild` when `force` says what it does.
    Dispatch {
        /// What the input `force_rebuild` does, when the dispatch has it.
        force: Option<&'static str>,
    },
    /// On a schedule, on the default branch (`cron`, UTC).
    Schedule {
        /// When it runs, in cron syntax.
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

/// A job of a workflow: where it runs, after which jobs, when, and its steps.
pub struct Job {
    /// Its key in the workflow, which other jobs' `needs` name.
    pub id: &'static str,
    /// The name GitHub shows; `{axis}` stands for the matrix value.
    pub name: String,
    /// Lines said above the job.
    pub comment: Vec<String>,
    /// The ids of the jobs it runs after.
    pub needs: Vec<&'static str>,
    /// When it runs; `None`: when every job it needs succeeded.
    pub condition: Option<Condition>,
    /// The runner it runs on.
    pub runs_on: RunsOn,
    /// Permissions it writes with, each with the reason (said beside it); every job reads the
    /// repository's contents, and nothing else unless said here.
    pub writes: Vec<(&'static str, &'static str)>,
    /// The deployment environment it runs in (`github-pages`), and the URL it deploys to.
    pub environment: Option<(&'static str, Value)>,
    /// Its outputs, each a name and its value, for the jobs that need it.
    pub outputs: Vec<(&'static str, Value)>,
    /// Its matrix: one leg per combination of values; `None`, one run.
    pub matrix: Option<Matrix>,
    /// What proves its legs needless ([`Job::proven_by`]): only the others run.
    pub proof: Option<Proof>,
    /// Its steps, in the order they run.
    pub steps: Vec<Step>,
}

/// A GitHub-hosted runner's label, or the matrix axis that holds it.
pub enum RunsOn {
    /// A runner's label (`ubuntu-latest`).
    Label(&'static str),
    /// The matrix axis whose value is the runner's label.
    Axis(&'static str),
}

/// A job's matrix (`strategy:`): its axes and what is added to their combinations.
pub struct Matrix {
    /// `fail-fast`; `None` leaves GitHub's default (a failed leg cancels the others).
    pub fail_fast: Option<bool>,
    /// Each axis and its values.
    pub axes: Vec<(&'static str, Vec<String>)>,
    /// Values added to the combinations that match an entry's values of the axes.
    pub include: Vec<Vec<(&'static str, String)>>,
    /// Where GitHub takes the legs that run from (`fromJSON` of `{"include": [legs]}`); the axes
    /// still name every leg.
    pub from: Option<Value>,
}

/// What proves a job's legs needless: the first job's `cargo xtask prebuild --prove` answers in its output
/// named as the job: `skip`, or the legs that run (`{"include": [...]}`; `run` without a matrix).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proof {
    /// Its leg's check (`checks.<system>.<test-type>` on its `os`) is fetchable, whole and signed.
    Check,
    /// Its leg's image (`image` on `arch`) is fetchable, whole and signed.
    Image,
    /// The images it runs are fetchable, and the history holds a passing smoke of these exact
    /// store paths.
    Smoke,
}

/// A job's output that says a job of [`Proof`] is proven: none of its legs runs.
pub const SKIP: &str = "skip";

/// A step of a job.
pub enum Step {
    /// An action (setup): stood in for by `cargo xtask ci`.
    Uses(Uses),
    /// `cargo xtask …`: what `cargo xtask ci` runs.
    Xtask(Xtask),
}

/// A setup step: an action pinned to a commit, with its inputs.
pub struct Uses {
    /// What it is for, which says what `cargo xtask ci` stands in for it with.
    pub role: Role,
    /// The action and the commit it is pinned to.
    pub action: Pin,
    /// Its inputs (`with:`).
    pub with: Vec<(&'static str, Value)>,
    /// Lines said above the step.
    pub comment: Vec<String>,
    /// Rendered as comments: there, but off (Cachix disabled by `rollback --disable-cachix`).
    pub disabled: bool,
    /// The step's id, which later steps' conditions and values name.
    pub id: Option<&'static str>,
    /// When it runs; `None`: when every step before it succeeded.
    pub condition: Option<Condition>,
}

/// A `run:` step: `cargo xtask` with its words and environment.
pub struct Xtask {
    /// The step's id, which later steps' conditions and values name.
    pub id: Option<&'static str>,
    /// When it runs; `None`: when every step before it succeeded.
    pub condition: Option<Condition>,
    /// Lines said above the step.
    pub comment: Vec<String>,
    /// The words after `cargo xtask`.
    pub args: Vec<Word>,
    /// Its environment (`env:`): each variable and its value.
    pub env: Vec<(&'static str, Value)>,
    /// Said at the end of the `run:` line (a linter's finding ignored, with the reason above).
    pub line_comment: Option<&'static str>,
    /// What this machine must have to run it here (GitHub's runners have both).
    pub needs_engine: bool,
    /// Whether it needs buildah (it writes the image index).
    pub needs_buildah: bool,
}

/// What a setup action is for: what `cargo xtask ci` stands in for it with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// actions/checkout: the repository's sources.
    Checkout,
    /// install-nix-action: Nix on the runner.
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
    /// A word said as it is.
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
    /// A string said as it is.
    Lit(String),
    /// A block of lines (`|`).
    Lines(Vec<String>),
    /// `matrix.<axis>`: the leg's value of an axis.
    Matrix(&'static str),
    /// `needs.<job>.outputs.<output>`: an output of a job it needs.
    Needs {
        /// The id of the job.
        job: &'static str,
        /// The name of the output.
        output: &'static str,
    },
    /// `steps.<step>.outputs.<output>`: an output of a step before it.
    Step {
        /// The id of the step.
        step: &'static str,
        /// The name of the output.
        output: &'static str,
    },
    /// `github.<field>`: `repository`, `sha`, `actor`.
    Github(&'static str),
    /// `secrets.<name>`: a secret of the repository.
    Secret(&'static str),
    /// `ghcr.io/<repository>`: the registry images are pushed to (`cargo xtask ci --registry`).
    Registry,
    /// A boolean input of a dispatch, false when absent.
    Input(&'static str),
    /// Whether a condition holds, `true` or `false` (`${{ matrix.runner == 'ubuntu-latest' }}`).
    Holds(Condition),
    /// `toJSON(needs)`.
    NeedsJson,
    /// `toJSON(matrix)`: a matrix job's values, for its tasks' records.
    MatrixJson,
}

/// When a job or a step runs (`if:`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    /// A push to the default branch.
    DefaultBranchPush,
    /// Whatever the jobs it needs did.
    Always,
    /// Whatever happened before it, on a push to the default branch.
    AlwaysOnDefaultBranchPush,
    /// A repository variable equal to a value.
    Var {
        /// The variable's name (`vars.<name>`).
        name: &'static str,
        /// The value it must equal.
        equals: &'static str,
    },
    /// Unless a job before it failed or the run was cancelled, when `needs.<job>.outputs.<output>`
    /// is not [`SKIP`].
    Unproven {
        /// The job that answers.
        job: &'static str,
        /// Its output for this job.
        output: &'static str,
    },
    /// On a push to the default branch, unless a job before it failed or the run was cancelled.
    DefaultBranchPushUnlessFailed,
    /// A leg's value of an axis, equal to a value (a step of one leg).
    Matrix {
        /// The axis.
        axis: &'static str,
        /// The value it must equal.
        equals: &'static str,
    },
    /// An output of a step before it, equal to a value.
    Output {
        /// The id of the step.
        step: &'static str,
        /// The name of the output.
        output: &'static str,
        /// The value it must equal.
        equals: &'static str,
    },
}

impl Xtask {
    /// A step that runs `cargo xtask` with these words: no id, condition, comment or environment.
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

    /// Gives the step an id.
    pub fn id(mut self, id: &'static str) -> Xtask {
        self.id = Some(id);
        self
    }

    /// Runs the step only when `condition` holds.
    pub fn when(mut self, condition: Condition) -> Xtask {
        self.condition = Some(condition);
        self
    }

    /// Sets the lines said above the step.
    pub fn comment(mut self, lines: &[&str]) -> Xtask {
        self.comment = lines.iter().map(|l| (*l).to_owned()).collect();
        self
    }

    /// Adds variables to the step's environment.
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
    /// A job with no needs, condition, permissions, outputs, matrix or steps.
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
            proof: None,
            steps: Vec::new(),
        }
    }

    /// Runs only the legs `job`'s `cargo xtask prebuild --prove` did not prove needless (its output named as
    /// this job).
    pub fn proven_by(mut self, job: &'static str, proof: Proof) -> Job {
        self.condition = Some(Condition::Unproven { job, output: self.id });
        if let Some(matrix) = &mut self.matrix {
            matrix.from = Some(Value::Needs { job, output: self.id });
        }
        self.proof = Some(proof);
        self
    }

    /// Sets the jobs it runs after.
    pub fn needs(mut self, needs: &[&'static str]) -> Job {
        self.needs = needs.to_vec();
        self
    }

    /// Runs the job only when `condition` holds.
    pub fn when(mut self, condition: Condition) -> Job {
        self.condition = Some(condition);
        self
    }

    /// Gives the job a matrix; before its steps are added, so that their tasks get its values.
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

    /// Its `cargo xtask` steps, setup steps left out.
    pub fn xtask_steps(&self) -> impl Iterator<Item = &Xtask> {
        self.steps.iter().filter_map(|s| match s {
            Step::Xtask(x) => Some(x),
            Step::Uses(_) => None,
        })
    }
}
