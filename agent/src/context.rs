//! What every command works with: the host it acts on (the [`Sysroot`]: `/`, or the tree under
//! `--root`) and the validated [`Settings`]. Built once by the dispatcher, below every command.

use crate::host::Sysroot;
use crate::settings::Settings;

pub struct Context {
    pub sysroot: Sysroot,
    pub settings: Settings,
}
