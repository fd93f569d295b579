//! `runsc platform-demo`: the platform seam end to end, before the Sentry
//! exists. A tiny hand-assembled x86-64 program runs in a fresh address space
//! of the chosen platform; each of its system calls stops and is served here
//! (write to the demo's stdout, exit), never by the host kernel.

use std::io::Write;
use std::sync::Arc;

use anyhow::{bail, Context as _};
use platforms::{CpuState, Exit, MemoryFile, Perms, PAGE_SIZE};

const CODE: u64 = 0x40_0000;
const STACK_TOP: u64 = 0x80_0000;

/// What the demo program did.
#[derive(Debug, PartialEq, Eq)]
pub struct DemoReport {
    pub syscalls: u64,
    pub faults: u64,
    pub exit_code: i32,
}

/// The guest: `write(1, msg, len)` `count` times, then `exit_group(0)`.
/// The message lives on the stack (a page the demo maps on the first fault).
fn guest_code(msg: &[u8], count: u32) -> Vec<u8> {
    let mut c = Vec::new();
    // sub rsp, len (rounded to 16); copy message bytes with `mov byte [rsp+i], imm8`
    let len = msg.len() as u32;
    let frame = (len + 15) & !15;
    c.extend_from_slice(&[0x48, 0x81, 0xec]);
    c.extend_from_slice(&frame.to_le_bytes());
    for (i, b) in msg.iter().enumerate() {
        // mov byte ptr [rsp + disp32], imm8
        c.extend_from_slice(&[0xc6, 0x84, 0x24]);
        c.extend_from_slice(&(i as u32).to_le_bytes());
        c.push(*b);
    }
    c.push(0xbb); // mov ebx, count
    c.extend_from_slice(&count.to_le_bytes());
    let loop_start = c.len();
    c.extend_from_slice(&[0xb8, 1, 0, 0, 0]); // mov eax, 1 (write)
    c.extend_from_slice(&[0xbf, 1, 0, 0, 0]); // mov edi, 1
    c.extend_from_slice(&[0x48, 0x89, 0xe6]); // mov rsi, rsp
    c.push(0xba); // mov edx, len
    c.extend_from_slice(&len.to_le_bytes());
    c.extend_from_slice(&[0x0f, 0x05]); // syscall
    c.extend_from_slice(&[0xff, 0xcb]); // dec ebx
    let back = loop_start as i64 - (c.len() as i64 + 6);
    c.extend_from_slice(&[0x0f, 0x85]); // jnz loop_start
    c.extend_from_slice(&(back as i32).to_le_bytes());
    c.extend_from_slice(&[0xb8, 231, 0, 0, 0]); // mov eax, 231 (exit_group)
    c.extend_from_slice(&[0x31, 0xff]); // xor edi, edi
    c.extend_from_slice(&[0x0f, 0x05]); // syscall
    c
}

/// Runs the demo guest on `platform_name`, writing its output to `out`.
/// With `confine`, the process confines itself as a Sentry once the memory
/// file and platform exist, before the guest runs.
pub fn run(
    platform_name: &str,
    message: &str,
    count: u32,
    confine: bool,
    out: &mut dyn Write,
) -> anyhow::Result<DemoReport> {
    let memory = Arc::new(MemoryFile::new(1 << 30).context("creating the memory file")?);
    let platform = platforms::by_name(platform_name, memory.clone())?;
    if confine {
        crate::boot::confine_sentry()?;
    }
    let space = platform.new_address_space().context("creating an address space")?;
    let code = guest_code(message.as_bytes(), count);
    let text = memory.allocate(PAGE_SIZE)?;
    memory.write_at(text.start, &code)?;
    space.map_file(CODE, PAGE_SIZE, text.start, Perms::RX)?;

    let mut ctx = platform.new_context()?;
    let mut cpu = CpuState::new(CODE, STACK_TOP);
    let mut report = DemoReport { syscalls: 0, faults: 0, exit_code: -1 };
    let mut stack_page = None;
    loop {
        match ctx.switch(&space, &mut cpu)? {
            Exit::Syscall => {
                report.syscalls += 1;
                let [fd, buf, len, ..] = cpu.regs.syscall_args();
                match cpu.regs.syscall_nr() {
                    1 if fd == 1 => {
                        let data = read_guest(&memory, stack_page, buf, len)?;
                        out.write_all(&data)?;
                        cpu.regs.rax = len;
                    }
                    231 | 60 => {
                        report.exit_code = fd as i32;
                        return Ok(report);
                    }
                    _ => cpu.regs.rax = (-libc::ENOSYS) as u64,
                }
            }
            Exit::Fault { addr, access, .. } => {
                report.faults += 1;
                // Only the stack page below STACK_TOP is valid.
                if !(STACK_TOP - PAGE_SIZE..STACK_TOP).contains(&addr) || access.execute {
                    bail!("guest fault at {addr:#x} ({access:?})");
                }
                let page = memory.allocate(PAGE_SIZE)?;
                space.map_file(STACK_TOP - PAGE_SIZE, PAGE_SIZE, page.start, Perms::RW)?;
                stack_page = Some(page.start);
            }
            other => bail!("guest stopped unexpectedly: {other:?}"),
        }
    }
}

/// Reads guest memory; the demo only maps the stack page as data.
fn read_guest(memory: &MemoryFile, stack_page: Option<u64>, addr: u64, len: u64) -> anyhow::Result<Vec<u8>> {
    let page = stack_page.context("guest passed a buffer before mapping its stack")?;
    let base = STACK_TOP - PAGE_SIZE;
    if addr < base || addr.checked_add(len).is_none_or(|end| end > STACK_TOP) {
        bail!("guest buffer {addr:#x}+{len} outside its stack");
    }
    let mut data = vec![0u8; len as usize];
    memory.read_at(page + (addr - base), &mut data)?;
    Ok(data)
}

#[cfg(test)]
mod tests {
    #[test]
    fn demo_guest_writes_through_the_platform() {
        let mut out = Vec::new();
        let report = super::run("ptrace", "hi from the sandbox\n", 3, false, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "hi from the sandbox\n".repeat(3));
        assert_eq!(report, super::DemoReport { syscalls: 4, faults: 1, exit_code: 0 });
    }

    #[test]
    fn unknown_platform_is_a_clear_error() {
        let err = super::run("vmware", "x", 1, false, &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("unknown platform"), "{err}");
    }
}
