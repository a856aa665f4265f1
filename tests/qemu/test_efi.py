"""UEFI boot: BOOTX64.EFI (boot/efi/) loads KERNEL.ELF from the ESP under OVMF.

Each test builds its own ESP image (scripts/esp.py) from build/efi/BOOTX64.EFI
and build/efi/KERNEL.ELF (`make efi`; `make test` builds them) and boots it on
q35. OVMF takes a few seconds under TCG, so timeouts are generous. Where the
loader must refuse to boot, the firmware takes over again afterwards (next
boot option, then its shell) and never exits: those tests stop QEMU once the
firmware reports that the loader returned.
"""
import os

import pytest

import vm
from vm import FAIL, PASS
import esp  # scripts/esp.py: vm put scripts/ on sys.path

EFI_DIR = os.path.join(vm.BUILD, "efi")
LOADER = os.path.join(EFI_DIR, "BOOTX64.EFI")
KERNEL_ELF = os.path.join(EFI_DIR, "KERNEL.ELF")
TIMEOUT = 120
BAD_TIMEOUT = 40   # refusals: the message comes within seconds

BOOT = "EFI/BOOT/BOOTX64.EFI"
KERNEL = "EFI/BOOT/KERNEL.ELF"
CMDLINE = "EFI/BOOT/CMDLINE"

# The same boot log as under PVH, with the RSDP from the UEFI configuration table.
READY = [r"^vuk-efi: kernel at 0x[0-9A-F]+-0x[0-9A-F]+, entry 0x[0-9A-F]+, "
         r"boot info at 0x[0-9A-F]+, RSDP 0x[0-9A-F]+; exiting boot services$",
         r"^virtio unikernel \(x86-64\), booted via UEFI$",
         r"^mem: \d+ MiB usable", r"^clock: TSC \d+\.\d+ MHz",
         r"^acpi: RSDP rev 2 at 0x[0-9a-f]{8} \(from UEFI\), XSDT at 0x[0-9a-f]{8}$",
         r"^acpi: MADT: LAPIC 0xfee00000, 1 CPU, IOAPIC id 0 at 0xfec00000 GSI 0, 5 overrides$",
         r"^acpi: MCFG: ECAM 0xb0000000 segment 0 buses 0-255$",
         r"^acpi: FADT: PM1a_CNT 0x604, PM timer 0x608, reset reg I/O 0xcf9 value 0xf$",
         r"^boot: ready in \d+ us$"]
CLEAN = [r"^acpi: skipped:", r"^acpi: no ", r"not usable", r"^paging: cannot map",
         r"^warning: boot information truncated", r"^EXCEPTION"]
# The firmware got control back from the loader and moves on.
RETURNED = r"^BdsDxe: failed to start Boot0001 .*: "


@pytest.fixture
def efi_boot(request):
    """efi_boot(files={dest: path/bytes/None}, cmdline=..., **vm.boot args): build
    this test's ESP (loader, kernel, CMDLINE file when cmdline is given; None
    removes a file) and boot it under OVMF."""
    for f in (LOADER, KERNEL_ELF):
        if not os.path.exists(f):
            pytest.fail(f"{f} is missing: run make efi")

    def _boot(files=None, cmdline=None, timeout=TIMEOUT, **kw):
        name = request.node.name
        contents = {BOOT: LOADER, KERNEL: KERNEL_ELF}
        if cmdline is not None:
            contents[CMDLINE] = (cmdline + "\n").encode()
        contents.update(files or {})
        os.makedirs(vm.LOGDIR, exist_ok=True)
        img = os.path.join(vm.LOGDIR, vm._safe(name) + ".esp.img")
        esp.make_esp(img, {k: v for k, v in contents.items() if v is not None})
        return vm.boot(name, efi_esp=img, timeout=timeout, **kw)
    return _boot


def kernel_bytes():
    with open(KERNEL_ELF, "rb") as f:
        return f.read()


@pytest.mark.parametrize("test", ["boot", "heap_most", "clock", "printf"])
def test_efi_in_guest(efi_boot, test):
    run = efi_boot(cmdline=f"test={test}")
    run.expect(PASS, [rf"^vuk-efi: command line from \\EFI\\BOOT\\CMDLINE: test={test}$"] + READY
               + [rf"^TEST PASS: {test}$"], absent=CLEAN + [r"MISMATCH"])


def test_efi_cmdline_file(efi_boot):
    """Quotes survive; line ends in the file become spaces."""
    efi_boot(cmdline='test=boot\nnote="two words"').expect(
        PASS, [r'^cmdline: test=boot note="two words"$', r"^TEST PASS: boot$"])


def test_efi_no_cmdline(efi_boot):
    """No LoadOptions (OVMF's own boot entry carries binary data) and no file: the shell."""
    # Serial input would reach the firmware first: stop at the shell's prompt instead.
    run = efi_boot(until=r"^shell: type 'help' for commands$")
    run.expect(None, [r"^vuk-efi: command line: none", r"booted via UEFI$", r"^cmdline: $",
                      r"^shell: type 'help' for commands$"], absent=CLEAN)
    if not run.stopped:
        run.fail("the shell did not start")


def test_efi_nx(efi_boot):
    """NX is on as under PVH (efi_boot_map sets EFER.NXE) and the report works."""
    efi_boot(cmdline="test=nx").expect(
        FAIL, [r"booted via UEFI$", r"^EXCEPTION: #PF page fault \(vector 14\) error 0x11$",
               r"^  page fault: protection violation instruction fetch$",
               r"^FATAL: unexpected exception, exit code 17$"], absent=[r"^TEST PASS"])


def test_efi_memory_above_4g(efi_boot):
    """5 GiB: RAM above 4 GiB is used (and OVMF's loader memory may sit up there)."""
    efi_boot(cmdline="test=pages", mem="5G").expect(
        PASS, [r"booted via UEFI$", r"^mem: \[0x000100000000-0x0001bfffffff\] usable$",
               r"^pages: first page at 0x1[0-9a-f]{8}, RAM ends at 0x1c0000000$",
               r"^TEST PASS: pages$"], absent=[r"^EXCEPTION", r"^warning: boot information"])


# OVMF has the UEFI shell built in: with no BOOTX64.EFI on the disk it runs
# startup.nsh, which starts the loader with arguments, as a user would.
SHELL_LOADER = "EFI/BOOT/VUKLDR.EFI"


def test_efi_load_options(efi_boot):
    """Arguments from the shell reach the kernel and win over the CMDLINE file."""
    startup = b'fs0:\\EFI\\BOOT\\VUKLDR.EFI test=boot note="two words"\r\n'
    run = efi_boot(files={BOOT: None, SHELL_LOADER: LOADER, "startup.nsh": startup},
                   cmdline="test=no_such_test")
    run.expect(PASS, [r'^vuk-efi: command line from LoadOptions: test=boot note="two words"$',
                      r"booted via UEFI$", r'^cmdline: test=boot note="two words"$',
                      r"^TEST PASS: boot$"])


def test_efi_load_options_image_name_only(efi_boot):
    """The shell passes the image name alone: the CMDLINE file is used."""
    run = efi_boot(files={BOOT: None, SHELL_LOADER: LOADER,
                          "startup.nsh": b"fs0:\\EFI\\BOOT\\VUKLDR.EFI\r\n"},
                   cmdline="test=boot")
    run.expect(PASS, [r"^vuk-efi: command line from \\EFI\\BOOT\\CMDLINE: test=boot$",
                      r"booted via UEFI$", r"^cmdline: test=boot$", r"^TEST PASS: boot$"])


# A bad ESP: the loader says why on the console and returns to the firmware.
def refused(efi_boot, files, message):
    run = efi_boot(files=files, cmdline="test=boot", until=RETURNED, timeout=BAD_TIMEOUT)
    run.expect(None, [message, r"^vuk-efi: not booting \(.+\); back to the firmware$", RETURNED],
               absent=[r"booted via UEFI", r"exiting boot services"])
    if not run.stopped:
        run.fail("the firmware did not report the loader's return")


def test_efi_kernel_missing(efi_boot):
    refused(efi_boot, {KERNEL: None},
            r"^vuk-efi: cannot read the kernel \\EFI\\BOOT\\KERNEL\.ELF from the boot volume: "
            r"Not Found$")


def test_efi_kernel_truncated(efi_boot):
    data = kernel_bytes()
    refused(efi_boot, {KERNEL: data[:len(data) // 2]},
            r"^vuk-efi: \\EFI\\BOOT\\KERNEL\.ELF is not a usable kernel: "
            r"PT_LOAD file range outside the file \(truncated\?\) \(program header \d\)$")


def test_efi_kernel_bad_magic(efi_boot):
    refused(efi_boot, {KERNEL: b"\x7fELG" + kernel_bytes()[4:]},
            r"^vuk-efi: \\EFI\\BOOT\\KERNEL\.ELF is not a usable kernel: "
            r"not an ELF file \(bad magic\)$")


def test_efi_kernel_empty(efi_boot):
    refused(efi_boot, {KERNEL: b""},
            r"^vuk-efi: \\EFI\\BOOT\\KERNEL\.ELF is not a usable kernel: "
            r"file too short for an ELF header \(truncated\?\)$")


def test_efi_intx_level(efi_boot):
    """OVMF, like SeaBIOS, routes the PIRQs and writes Interrupt Line: PCI INTx
    (level, shared) works after a UEFI boot too."""
    devices = ["-device", "edu,addr=0x4", "-device", "edu,addr=0x5"]
    efi_boot(cmdline="test=intx_level", devices=devices).expect(PASS, [
        r"^ioapic: id 0 at 0xfec00000, GSI 0-23, version 0x20$",
        r"^pci 00:04\.0: INTx pin A -> GSI 10 \(level, active high\)$",
        r"^pci 00:05\.0: INTx pin A -> GSI 10 \(level, active high\)$",
        r"^intx-level: raised once, acknowledged on call 5: 5 calls",
        r"^intx-level: shared GSI 10, second function raised: first handler 1 calls 0 handled, "
        r"second 1 calls 1 handled$",
        r"^TEST PASS: intx_level$"], absent=CLEAN)
