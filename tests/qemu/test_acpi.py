"""ACPI tables as QEMU builds them for q35, pc and microvm, read at boot."""
import pytest

from vm import FAIL, PASS

RSDP = r"^acpi: RSDP rev (\d+) at (0x[0-9a-f]{{8}}) \(from {src}\), {root} at 0x[0-9a-f]{{8}}$"
MADT_ONE_IOAPIC = (r"^acpi: MADT: LAPIC 0xfee00000, {cpus}, "
                   r"IOAPIC id 0 at 0xfec00000 GSI 0, 5 overrides$")
READY = [r"^boot: ready in \d+ us$", r"^TEST PASS: boot$"]
CLEAN = [r"^acpi: skipped:", r"^acpi: no ", r"not usable", r"^paging: cannot map"]


def test_acpi_q35(boot):
    boot(cmdline="test=boot", machine="q35").expect(PASS, [
        r"^clock: ",
        RSDP.format(src="PVH", root="RSDT"),
        MADT_ONE_IOAPIC.format(cpus="1 CPU"),
        r"^acpi: MCFG: ECAM 0xb0000000 segment 0 buses 0-255$",
        r"^acpi: FADT: PM1a_CNT 0x604, PM timer 0x608, reset reg I/O 0xcf9 value 0xf$",
        # The PCI0 _CRS sits in a later Scope (\_SB.PCI0) than the Device.
        r"^acpi: DSDT: PCI host bridge \\_SB\.PCI0: segment 0 buses 0-255, I/O 0x0-0xcf7, "
        r"I/O 0xd00-0xffff, mem 0xa0000-0xbffff, mem 0x10000000-0xafffffff, "
        r"mem 0xc0000000-0xfebfffff, mem 0x100000000-0x8ffffffff \(scanned in \d+ us\)$",
    ] + READY, absent=CLEAN)


def test_acpi_pc(boot):
    """PIIX: no PCIe, so no MCFG; an ACPI 1.0 FADT without a reset register."""
    boot(cmdline="test=boot", machine="pc").expect(PASS, [
        RSDP.format(src="PVH", root="RSDT"),
        MADT_ONE_IOAPIC.format(cpus="1 CPU"),
        r"^acpi: MCFG: none$",
        r"^acpi: FADT: PM1a_CNT 0x604, PM timer 0x608, no reset reg$",
        r"^acpi: DSDT: PCI host bridge \\_SB\.PCI0: segment 0 buses 0-255, I/O 0x0-0xcf7, "
        r"I/O 0xd00-0xffff, mem 0xa0000-0xbffff, mem 0x10000000-0xfebfffff, "
        r"mem 0x100000000-0x17fffffff \(scanned in \d+ us\)$",
    ] + READY, absent=CLEAN + [r"^acpi: MCFG: ECAM"])


@pytest.mark.parametrize("machine", ["microvm", "microvm,pcie=on"])
def test_acpi_microvm(boot, machine):
    """Hardware-reduced ACPI 2.0+ tables: XSDT, two IOAPICs, reset through the GED."""
    boot(cmdline="test=boot", machine=machine).expect(PASS, [
        RSDP.format(src="PVH", root="XSDT"),
        r"^acpi: MADT: LAPIC 0xfee00000, 1 CPU, IOAPIC id 0 at 0xfec00000 GSI 0, "
        r"IOAPIC id 1 at 0xfec10000 GSI 24, 0 overrides$",
        r"^acpi: MCFG: none$",
        r"^acpi: FADT: hardware-reduced, reset reg memory 0xfea00202 value 0x42$",
        # microvm's GPEX: ECAM only through _CBA, no I/O window.
        r"^acpi: DSDT: PCI host bridge \\_SB\.PCI0: segment 0 buses 0-255, "
        r"ECAM 0xe0000000 \(_CBA\), mem 0xc0000000-0xdfffffff, mem 0xc000000000-0xffffffffff \(scanned in \d+ us\)$"
        if "pcie=on" in machine else r"^acpi: DSDT: no PCI host bridge$",
    ] + READY, absent=CLEAN)


@pytest.mark.parametrize("machine", ["microvm,acpi=off", "pc,acpi=off"])
def test_acpi_off(boot, machine):
    """No tables at all: the BIOS-area scan finds nothing and the boot goes on."""
    boot(cmdline="test=boot", machine=machine).expect(
        PASS, [r"^acpi: no RSDP found$"] + READY,
        absent=[r"^acpi: (RSDP|MADT|MCFG|FADT)", r"^acpi: skipped:"])


def test_acpi_cpu_count(boot):
    """Enabled processor entries only: hot-pluggable slots are listed disabled."""
    boot(cmdline="test=boot", devices=["-smp", "2"]).expect(
        PASS, [MADT_ONE_IOAPIC.format(cpus="2 CPUs")] + READY, absent=CLEAN)
    boot(cmdline="test=boot", devices=["-smp", "1,maxcpus=4"]).expect(
        PASS, [MADT_ONE_IOAPIC.format(cpus="1 CPU")] + READY, absent=CLEAN)


@pytest.mark.parametrize("machine", ["q35", "microvm"])
def test_acpi_bios_scan(boot, machine):
    """acpi=scan ignores the boot loader's RSDP: the EBDA/BIOS-area scan finds the same one."""
    given = boot(cmdline="test=boot", machine=machine)
    root = "XSDT" if machine == "microvm" else "RSDT"
    given.expect(PASS, [RSDP.format(src="PVH", root=root)] + READY)
    scanned = boot(cmdline="test=boot acpi=scan", machine=machine)
    scanned.expect(PASS, [RSDP.format(src="BIOS scan", root=root), r"^acpi: MADT: LAPIC",
                          r"^acpi: FADT: "] + READY, absent=CLEAN)
    want = given.find(RSDP.format(src="PVH", root=root))[1].group(2)
    got = scanned.find(RSDP.format(src="BIOS scan", root=root))[1].group(2)
    if got != want:
        scanned.fail(f"the scan found the RSDP at {got}, the boot loader said {want}")


def test_acpi_page0_stays_unmapped(boot):
    """The scan reads the EBDA pointer in page 0, which must stay unmapped afterwards."""
    boot(cmdline="test=null acpi=scan", machine="q35").expect(
        FAIL, [r"\(from BIOS scan\)", r"^EXCEPTION: #PF page fault \(vector 14\)",
             r"CR2 0x0000000000000000$"], absent=[r"^TEST PASS"])
