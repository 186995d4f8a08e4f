//! The storage calls: `SR.create`, `PBD.create`/`plug`/`unplug`/`destroy`, `VDI.create`/
//! `destroy`, `VBD.create`. The world owns what they do and their errors
//! (`world::sr_create`, `world::storage_repo`, `world::vdis`); this file resolves references,
//! reads the record parameters as the SDK sends them, and returns references.
//!
//! Record parameters: a required field that is missing, or a field of another type, is
//! `FIELD_TYPE_ERROR [field]`; optional fields take the datamodel's defaults.

use super::args::Args;
use super::error::Failure;
use super::face::Xapi;
use super::records::{Class, opaque_ref};
use super::value::Value;
use crate::world::sr_create::SrCreate;
use crate::world::vdis::{VbdCreate, VdiCreate};

fn void() -> Result<Value, Failure> {
    Ok(Value::str(""))
}

/// `SR.create(host, device_config, physical_size, name_label, name_description, type,
/// content_type, shared, sm_config)` → SR ref. `physical_size` is read and ignored (the
/// driver measures its storage pools).
pub(super) fn sr_create(xapi: &Xapi, args: &Args<'_>) -> Result<Value, Failure> {
    let host = args.object(xapi, 1, Class::Host)?;
    let device_config = args.string_map(2)?;
    args.int(3)?;
    let request = SrCreate {
        host,
        device_config,
        name_label: args.str(4)?.to_string(),
        name_description: args.str(5)?.to_string(),
        sr_type: args.str(6)?.to_string(),
        content_type: args.str(7)?.to_string(),
        shared: args.bool(8)?,
        sm_config: if args.present(9) {
            args.string_map(9)?
        } else {
            Default::default()
        },
    };
    let sr = xapi.world.sr_create(&request)?;
    Ok(Value::str(opaque_ref(&sr)))
}

/// `PBD.create({host, SR, device_config, other_config})` → PBD ref.
pub(super) fn pbd_create(xapi: &Xapi, args: &Args<'_>) -> Result<Value, Failure> {
    let record = args.record(1)?;
    let host = record.object(xapi, "host", Class::Host)?;
    let sr = record.object(xapi, "SR", Class::Sr)?;
    let device_config = record.map("device_config")?;
    let other_config = record.map("other_config")?;
    let pbd = xapi.world.pbd_create(&host, &sr, device_config, other_config)?;
    Ok(Value::str(opaque_ref(&pbd)))
}

pub(super) fn pbd_plug(xapi: &Xapi, args: &Args<'_>) -> Result<Value, Failure> {
    let pbd = args.object(xapi, 1, Class::Pbd)?;
    xapi.world.pbd_plug(&pbd)?;
    void()
}

pub(super) fn pbd_unplug(xapi: &Xapi, args: &Args<'_>) -> Result<Value, Failure> {
    let pbd = args.object(xapi, 1, Class::Pbd)?;
    xapi.world.pbd_unplug(&pbd)?;
    void()
}

pub(super) fn pbd_destroy(xapi: &Xapi, args: &Args<'_>) -> Result<Value, Failure> {
    let pbd = args.object(xapi, 1, Class::Pbd)?;
    xapi.world.pbd_destroy(&pbd)?;
    void()
}

/// `VDI.create({SR, virtual_size, type, name_label, sharable, read_only, other_config, …})`
/// → VDI ref.
pub(super) fn vdi_create(xapi: &Xapi, args: &Args<'_>) -> Result<Value, Failure> {
    let record = args.record(1)?;
    let sr = record.object(xapi, "SR", Class::Sr)?;
    let virtual_size = record.int("virtual_size")?;
    let virtual_size = u64::try_from(virtual_size).map_err(|_| {
        Failure::new(
            "INVALID_VALUE",
            ["virtual_size".to_string(), virtual_size.to_string()],
        )
    })?;
    let request = VdiCreate {
        sr,
        name_label: record.str_or("name_label", "")?,
        name_description: record.str_or("name_description", "")?,
        virtual_size,
        vdi_type: record.str("type")?.to_string(),
        sharable: record.bool_or("sharable", false)?,
        read_only: record.bool_or("read_only", false)?,
        other_config: record.map("other_config")?,
        sm_config: record.map("sm_config")?,
    };
    let vdi = xapi.world.vdi_create(&request)?;
    Ok(Value::str(opaque_ref(&vdi)))
}

pub(super) fn vdi_destroy(xapi: &Xapi, args: &Args<'_>) -> Result<Value, Failure> {
    let vdi = args.object(xapi, 1, Class::Vdi)?;
    xapi.world.vdi_destroy(&vdi)?;
    void()
}

/// `VBD.create({VM, VDI, userdevice, bootable, mode, type, …})` → VBD ref.
pub(super) fn vbd_create(xapi: &Xapi, args: &Args<'_>) -> Result<Value, Failure> {
    let record = args.record(1)?;
    let vm = record.object(xapi, "VM", Class::Vm)?;
    if xapi.view(|v| v.control_domain_host(&vm).is_some()) {
        return Err(Failure::new(
            "OPERATION_NOT_ALLOWED",
            ["This operation is not allowed on the control domain"],
        ));
    }
    let request = VbdCreate {
        vm,
        vdi: record.object(xapi, "VDI", Class::Vdi)?,
        userdevice: record.str("userdevice")?.to_string(),
        mode: record.str("mode")?.to_string(),
        vbd_type: record.str("type")?.to_string(),
        bootable: record.bool_or("bootable", false)?,
    };
    let vbd = xapi.world.vbd_create(&request)?;
    Ok(Value::str(opaque_ref(&vbd)))
}
