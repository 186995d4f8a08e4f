//! What every command works with: the host it acts on (the [`Sysroot`]: `/`, or the tree under
//! `--root`) and the validated [`Settings`]. Built once by the dispatcher, below every command.
//! It also carries what the command noted for the metrics ([`Observed`]).

use crate::host::Sysroot;
use crate::observed::Observed;
use crate::settings::Settings;

pub struct Context {
    pub sysroot: Sysroot,
    pub settings: Settings,
    /// What the run saw of the host (versions, steps), for `metrics`.
    pub observed: Observed,
}

impl Context {
    pub fn new(sysroot: Sysroot, settings: Settings) -> Context {
        Context {
            sysroot,
            settings,
            observed: Observed::default(),
        }
    }
}
