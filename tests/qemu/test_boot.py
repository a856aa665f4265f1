"""Boot, exceptions, newlib and the clock, checked from the host."""
import pytest

from vm import FAIL, PASS

BOOT_LINES = [r"booted via PVH$", r"^mem: \d+ MiB usable", r"^clock: TSC \d+\.\d+ MHz",
              r"^boot: ready in \d+ us$"]


@pytest.mark.parametrize("machine", ["q35", "pc", "microvm", "microvm,pcie=on"])
def test_boot_and_exit(boot, machine):
    boot(cmdline="test=boot", machine=machine).expect(
        PASS, BOOT_LINES + [r"^TEST PASS: boot$"])


def test_cmdline_reaches_kernel(boot):
    boot(cmdline='test=boot note="two words"').expect(
        PASS, [r'^cmdline: test=boot note="two words"$', r"^TEST PASS: boot$"])


REPORT = [r"^  RIP 0x[0-9a-f]{16}  CS  0x0008", r"CR2 0x[0-9a-f]{16}$",
          r"^  rax 0x[0-9a-f]{16}  rbx", r"^  r13 0x[0-9a-f]{16}  r14",
          r"^backtrace:$", r"^  #0  0x[0-9a-f]{16}$", r"^  #1  0x[0-9a-f]{16}$",
          r"^FATAL: unexpected exception, exit code 17$"]


@pytest.mark.parametrize("test,header,extra", [
    ("ud", r"^EXCEPTION: #UD invalid opcode \(vector 6\) error 0x0$", []),
    ("pf", r"^EXCEPTION: #PF page fault \(vector 14\) error 0x0$",
     [r"CR2 0x00000dead0000000$", r"^  page fault: not present read$"]),
    ("null", r"^EXCEPTION: #PF page fault \(vector 14\)",
     [r"CR2 0x0000000000000000$", r"^  page fault: not present read$"]),
    ("nx", r"^EXCEPTION: #PF page fault \(vector 14\) error 0x11$",
     [r"^  page fault: protection violation instruction fetch$"]),
    ("wp", r"^EXCEPTION: #PF page fault \(vector 14\) error 0x3$",
     [r"^  page fault: protection violation write$"]),
    ("stack_overflow", r"^EXCEPTION: #DF double fault \(vector 8\)", []),
])
def test_exception_report(boot, test, header, extra):
    run = boot(cmdline=f"test={test}")
    # The report's lines in order; the extra lines sit among them.
    run.expect(FAIL, [header] + REPORT[:2])
    run.expect(FAIL, [header] + extra + [r"^backtrace:$", r"^FATAL: unexpected exception"])
    run.expect(FAIL, [header] + REPORT[2:], absent=[r"^TEST PASS"])


@pytest.mark.parametrize("test", ["printf", "strtod", "malloc", "pages", "heap_most", "clock",
                                  "irq_state"])
def test_in_guest(boot, test):
    boot(cmdline=f"test={test}").expect(PASS, [rf"^TEST PASS: {test}$"], absent=[r"MISMATCH"])


def test_printf_formats(boot):
    boot(cmdline="test=printf").expect(PASS, [
        r"^printf: -42 str +ok$", r"^printf: 18446744073709551615 +ok$",
        r"^printf: 3\.141593 +ok$", r"^printf: 1\.23457e\+08 +ok$", r"^TEST PASS: printf$"])


def test_memory_above_4g(boot):
    """5 GiB on q35: RAM on both sides of the PCI hole is mapped and used."""
    boot(cmdline="test=pages", mem="5G").expect(
        PASS, [r"^mem: \[0x000100000000-0x0001bfffffff\] usable$",
               r"^pages: first page at 0x1[0-9a-f]{8}, RAM ends at 0x1c0000000$",
               r"^TEST PASS: pages$"])
    run = boot(cmdline="test=heap_most", mem="5G")
    run.expect(PASS, [r"^heap: allocated \d+ MiB", r"^TEST PASS: heap_most$"])
    got = int(run.find(r"^heap: allocated (\d+) MiB")[1].group(1))
    assert got > 4096, f"heap got {got} MiB of a 5 GiB guest"


def test_sleep_timed_by_host(boot):
    run = boot(cmdline="test=sleep")
    run.expect(PASS, [r"^sleep: start$", r"^sleep: end after \d+ us$", r"^TEST PASS: sleep$"])
    t0 = run.find(r"^sleep: start$")[0]
    t1 = run.find(r"^sleep: end after")[0]
    # Correctness, not speed: a generous band around 200 ms.
    if not 0.15 <= t1 - t0 <= 2.0:
        run.fail(f"host saw {1000 * (t1 - t0):.0f} ms between the lines, expected about 200")


def test_unknown_test_name(boot):
    boot(cmdline="test=no_such_test").expect(
        FAIL, [r"^error: unknown test 'no_such_test'; available tests:$",
               r"^  boot +boot, print the boot log"], absent=[r"^TEST PASS"])


def test_unknown_app_name(boot):
    boot(cmdline="app=no_such_app").expect(
        FAIL, [r"^error: unknown app 'no_such_app'; available apps:$", r"^  shell "])


def test_bad_cmdline(boot):
    boot(cmdline='test=boot x="unterminated').expect(
        FAIL, [r"^error: cannot parse the command line \(unterminated quote"])


def test_test_and_app_together(boot):
    boot(cmdline="test=boot app=shell").expect(FAIL, [r"^error: give test= or app=, not both$"])


def test_shell_session(boot):
    run = boot(cmdline="", input=b"echo hello   world\rbogus\ruptime\rpoweroff\r", input_delay=0.2)
    run.expect(PASS, [r"^shell: type 'help' for commands$", r"^> echo hello   world$",
                      r"^hello world$", r"^error: unknown command 'bogus' \(try 'help'\)$",
                      r"^up \d+\.\d{3} s$", r"^poweroff$"])


def test_shell_end_of_input(boot):
    """Ctrl-D on an empty line ends the shell with the pass code."""
    boot(cmdline="app=shell", input=b"help\r\x04").expect(
        PASS, [r"^  echo +print the arguments$", r"^  help +list commands$",
               r"^  poweroff +shut the machine down$", r"^> shell: end of input$"])
