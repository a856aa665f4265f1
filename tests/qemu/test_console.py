"""The virtio console against QEMU's virtio-serial: the shell on it, bulk data
both ways with SHA-256 on both sides in both ring layouts, named ports with
host open/close events, the console size, emergency write, and the UART
staying what it was (boot log, panics, TEST PASS lines)."""
import hashlib
import os
import re
import threading
import time

import pytest

import transport as tp
from vcon import Guest, Reader, VirtioSerial, echo_windowed, hangup, prng_bytes
from vm import FAIL, PASS

MiB = 1 << 20
BULK = 16 * MiB


def shell_cmd(sock, reader, line, timeout=30):
    """Type line and Enter; return what the shell printed up to its next prompt."""
    start = len(reader.data)
    sock.sendall(line + b"\r")
    end = reader.until(b"\r\n> ", start, timeout)
    assert end >= 0, f"no prompt after {line!r}; console so far:\n{reader.data.decode(errors='replace')}"
    return reader.data[start:end].decode(errors="replace").replace("\r\n", "\n")


def check_irq(out, slot, mode):
    """The `virtio` command's device line names exactly this interrupt mode; the
    `vcon` part: a polled device (mode "polling") counts its polling rounds and no
    queue took an interrupt, any other counts interrupts and never polls."""
    assert re.search(rf"^virtio-console {slot}: virtio_console, interrupts {re.escape(mode)}, "
                     r"\d+ config changes, \d+ resets$", out, re.M), out
    queues = re.findall(r"^  queue \d+ +\d+ \w+ +added (\d+) used \d+ kicks \d+ \(\+\d+ "
                        r"suppressed\) interrupts (\d+) free \d+( \(polled\))?$", out, re.M)
    assert queues, out
    if mode == "polling":
        assert all(q[2] and q[1] == "0" for q in queues), out
    else:
        assert not any(q[2] for q in queues), out
        assert sum(int(q[1]) for q in queues) > 0, out


def check_polls(out, polled):
    """`vcon`: "polled: N rounds, M waits ended by a used buffer" on a polled
    device only, with both counts above zero."""
    m = re.search(r"^  polled: (\d+) rounds, (\d+) waits ended by a used buffer$", out, re.M)
    if polled:
        assert m and int(m.group(1)) > 0 and int(m.group(2)) > 0, out
        print(m.group(0).strip())
    else:
        assert m is None, out


def start_shell(tmp_path, name, cmdline="app=shell", guest_kw=None, **serial_kw):
    serial = VirtioSerial(tmp_path, **serial_kw).console("c0", name="console0")
    guest = Guest(name, cmdline, serial, **(guest_kw or {}))
    sock = guest.connect("c0")
    reader = Reader(sock)
    assert reader.until(b"> ") >= 0, "no first prompt on the virtio console"
    return guest, sock, reader


def test_console_shell_session(tmp_path):
    guest, sock, r = start_shell(tmp_path, "console_shell_session")
    out = shell_cmd(sock, r, b"help")
    for cmd in ("echo", "help", "lspci", "mem", "poweroff", "uptime", "vcon", "virtio"):
        assert re.search(rf"^  {cmd} +\S", out, re.M), out
    assert shell_cmd(sock, r, b"echo hello   virtio world").endswith("\nhello virtio world\n> ")
    # Backspace editing: "echp" + DEL + "o" is "echo".
    assert "\nfixed\n" in shell_cmd(sock, r, b"echp\x7fo fixed")
    assert "error: unknown command 'bogus' (try 'help')" in shell_cmd(sock, r, b"bogus")
    assert re.search(r"^up \d+\.\d{3} s$", shell_cmd(sock, r, b"uptime"), re.M)
    assert re.search(r"^pages: \d+ free of \d+", shell_cmd(sock, r, b"mem"), re.M)
    assert "virtio-console" in shell_cmd(sock, r, b"lspci")
    out = shell_cmd(sock, r, b"virtio")
    # QEMU gives virtio-serial-pci 2 vectors by default for its 64 queues and the
    # configuration: entry 0 configuration, entry 1 shared by every queue
    # (test_console_msix_own for one vector per queue).
    check_irq(out, r"00:0\d\.0", "MSI-X shared")
    assert re.search(r"features 0x[0-9a-f]+ MULTIPORT EMERG_WRITE .*VERSION_1",
                     out), out
    assert re.search(r"^  queue 0 +64 split +added \d+ used \d+ kicks \d+ \(\+\d+ suppressed\) "
                     r"interrupts [1-9]\d* free \d+$", out, re.M), out
    assert re.search(r"^  queue 3 +32 split", out, re.M), out
    out = shell_cmd(sock, r, b"vcon")
    assert re.search(r"^  port 0 +console0 +console \(stdio\), host open, guest open, size unknown",
                     out, re.M), out
    check_polls(out, False)
    assert "size unknown unless the device sends RESIZE (no F_SIZE)" in out
    sock.sendall(b"poweroff\r")
    run = guest.wait()
    run.expect(PASS, [r"booted via PVH$", r"^virtio: virtio-console 00:0\d\.0: modern interface",
                      r"^vcon: virtio-console 00:0\d\.0: port 0 is the console: stdin, stdout and "
                      r"stderr are on it$",
                      r"^vcon: .*31 ports \(multiport\), split ring, emergency write on, size "
                      r"unknown \(no F_SIZE\)$", r"^boot: ready in \d+ us$"],
               absent=[r"^shell: type 'help'", r"^hello virtio world$"])
    assert r.until(b"poweroff\r\n") >= 0


def test_console_history_and_arrows(tmp_path):
    guest, sock, r = start_shell(tmp_path, "console_history")
    shell_cmd(sock, r, b"echo first")
    shell_cmd(sock, r, b"echo second")
    # Up twice brings back "echo first"; Enter runs it.
    out = shell_cmd(sock, r, b"\x1b[A\x1b[A")
    assert out.endswith("\nfirst\n> "), out
    # Up, down: back to an empty line.
    out = shell_cmd(sock, r, b"\x1b[A\x1b[Becho empty-after-down")
    assert out.endswith("\nempty-after-down\n> "), out
    sock.sendall(b"poweroff\r")
    guest.wait().expect(PASS)


def bulk_run(tmp_path, name, mode, packed, nbytes=BULK, port=None, extra="", t=tp.PCI):
    """sink: host->guest; source: guest->host; echo: both. Port 0 (the console) or a
    named port. Port 0's output is lossy in QEMU when the reader lags (README):
    its source goes to a file, its echo is windowed. Named ports are flow-controlled."""
    serial = VirtioSerial(tmp_path, packed=packed, t=t)
    outfile = os.path.join(str(tmp_path), "console.out")
    if mode == "source" and not port:
        serial.console_to_file("c0", outfile)
    else:
        serial.console("c0")
    if port:
        serial.port("p1", port)
    cmdline = f"test=console_{mode} bytes={nbytes}" + (f" port={port}" if port else "") + extra
    guest = Guest(name, cmdline, serial)
    reader = sock = None
    if port:
        con = guest.connect("c0")
        assert guest.wait_line(r"^vcon: .* ports \(multiport\)"), "driver did not come up"
        sock = guest.connect("p1")
        hangup(con)
    elif mode != "source":
        sock = guest.connect("c0")
    if sock:
        reader = Reader(sock, keep=False)
    sent = None
    if mode == "sink" or (mode == "echo" and port):
        sent = os.urandom(nbytes)
        threading.Thread(target=sock.sendall, args=(sent,), daemon=True).start()
    elif mode == "echo":
        sent = os.urandom(nbytes)
        assert echo_windowed(sock, reader, sent), f"echo: {reader.count} of {nbytes} bytes back"
    if reader and mode in ("source", "echo"):
        assert reader.wait_count(nbytes, 120), f"host got {reader.count} of {nbytes} bytes"
    run = guest.wait()
    run.expect(PASS, [rf"^console-{mode}: {nbytes} bytes in \d+ us, [\d.]+ MB/s, sha256 [0-9a-f]{{64}}$",
                      rf"^TEST PASS: console_{mode}$"])
    guest_sha = run.find(r"sha256 ([0-9a-f]{64})$")[1].group(1)
    if mode == "sink":
        assert guest_sha == hashlib.sha256(sent).hexdigest()
    elif mode == "source":
        if reader:
            got_sha, got = reader.sha.hexdigest(), reader.count
        else:
            with open(outfile, "rb") as f:
                body = f.read()
            got_sha, got = hashlib.sha256(body).hexdigest(), len(body)
        assert got == nbytes
        assert guest_sha == got_sha == hashlib.sha256(prng_bytes(1, nbytes)).hexdigest()
    else:
        assert reader.count == nbytes
        assert guest_sha == hashlib.sha256(sent).hexdigest() == reader.sha.hexdigest()
    return run


# (transport, packed): both layouts on PCI, and on virtio-mmio version 2 and 1.
BULK_TRANSPORTS = [(tp.PCI, False), (tp.PCI, True), (tp.MMIO, True), (tp.MMIO_LEGACY, False)]


@pytest.mark.parametrize("t,packed", BULK_TRANSPORTS,
                         ids=[f"{t}-{'packed' if p else 'split'}" for t, p in BULK_TRANSPORTS])
@pytest.mark.parametrize("mode", ["sink", "source", "echo"])
def test_console_bulk_16mib(tmp_path, mode, t, packed):
    """16 MiB host->guest (sink), guest->host (source), both at once (echo) on port 0."""
    layout = "packed" if packed else "split"
    run = bulk_run(tmp_path, f"console_bulk_{mode}_{t}_{layout}", mode, packed, t=t)
    if t.mmio:
        run.expect(PASS, [rf"^virtio: virtio-console {tp.MMIO_SLOT_ACPI}: "
                          rf"{'legacy' if t is tp.MMIO_LEGACY else 'modern'} interface, "
                          r"\d+ queues, interrupts GSI 47 level$"])


@pytest.mark.parametrize("fault,t,packed", [("tx@500", tp.PCI, False), ("rx@500", tp.PCI, False),
                                            ("tx@500", tp.MMIO, True), ("rx@500", tp.MMIO, True)],
                         ids=["tx-pci-split", "rx-pci-split", "tx-mmio-packed", "rx-mmio-packed"])
def test_console_bulk_recovery(tmp_path, fault, t, packed):
    """The 16 MiB echo on port 0 while a queue breaks (vcon.fault: a bad used
    entry after 500 buffers): the device is reset and brought back, and every
    byte arrives once, in order (the hashes on both sides)."""
    run = bulk_run(tmp_path, f"console_recover_{fault.replace('@', '_')}_{t}_{packed}", "echo",
                   packed, extra=f" vcon.fault={fault}", t=t)
    run.expect(PASS, [r"^vcon: .*: fault injected on queue [01] after 500 buffers$",
                      r"^vcon: .*: the device broke a ring \(.*injected fault.*\); "
                      r"device reset and brought back \(reset 1\)$"])


def test_console_named_port_ctrl_recovery(tmp_path):
    """The control receive queue breaks at the host's open of a named port
    (vcon.fault=ctrl@N): after the reset the ports are announced again, the
    guest's open file keeps working and 16 MiB go through it both ways."""
    run = bulk_run(tmp_path, "console_recover_ctrl", "echo", True, port="org.test.bulk",
                   extra=" vcon.fault=ctrl@3")
    run.expect(PASS, [r"^vcon: .*: fault injected on queue 2 after 3 buffers$",
                      r"^vcon: .*: the device broke a ring \(.*injected fault.*\); "
                      r"device reset and brought back \(reset 1\)$"])


@pytest.mark.parametrize("t,packed", [(tp.PCI, False), (tp.PCI, True), (tp.MMIO, False)],
                         ids=["split", "packed", "mmio-split"])
@pytest.mark.parametrize("mode", ["sink", "source", "echo"])
def test_console_bulk_named_port(tmp_path, mode, t, packed):
    """16 MiB through a virtserialport opened as /dev/vport/NAME (open/read/write/close)."""
    bulk_run(tmp_path, f"console_port_{mode}_{t}_{'packed' if packed else 'split'}", mode,
             packed, port="org.test.bulk", t=t)


def test_console_host_faster_than_reader(tmp_path):
    """The guest sleeps while the host sends 4 MiB: the ring holds it back, nothing is lost."""
    run = bulk_run(tmp_path, "console_slow_reader", "sink", False, nbytes=4 * MiB,
                   extra=" delay_ms=1500")
    run.expect(PASS, [r"^console-sink: ready", r"^console-sink: reading after 1500 ms$"])


def test_console_multiport_echo_and_events(tmp_path):
    serial = (VirtioSerial(tmp_path, vectors=8).console("c0")
              .port("p1", "org.test.echo").port("p2", "org.test.watch"))
    guest = Guest("console_multiport", "test=console_ports echo=org.test.echo "
                  "watch=org.test.watch events=6", serial)
    con = guest.connect("c0")
    assert guest.wait_line(r"^console-ports: ready$"), "the app did not start"
    echo = guest.connect("p1")
    echo_reader = Reader(echo, keep=False)
    data = os.urandom(2 * MiB)
    threading.Thread(target=echo.sendall, args=(data,), daemon=True).start()
    # Three opens and closes of the watched port; bytes sent before the second close.
    for i in range(3):
        w = guest.connect("p2")
        assert guest.wait_line(rf"^console-ports: watch: host opened \(event {2 * i + 1}\)")
        if i == 1:
            w.sendall(b"hello")
            time.sleep(0.2)
        w.close()
        assert guest.wait_line(rf"^console-ports: watch: host closed \(event {2 * i + 2}\)")
    assert echo_reader.wait_count(len(data), 60), f"echo: {echo_reader.count} bytes back"
    assert echo_reader.sha.hexdigest() == hashlib.sha256(data).hexdigest()
    hangup(echo)
    run = guest.wait()
    hangup(con)
    run.expect(PASS, [
        r"^vcon: .* port 1 'org\.test\.echo': named$",
        r"^vcon: .* port 2 'org\.test\.watch': named$",
        r"^console-ports: open of a missing port: No such file or directory$",
        r"^console-ports: write before the host opened watch: Broken pipe$",
        r"^console-ports: ready$",
        r"^console-ports: watch: host closed \(event 4\), 5 bytes received$",
        rf"^console-ports: echo: host closed after {len(data)} bytes$",
        r"^TEST PASS: console_ports$"])


def test_console_size_unknown(tmp_path):
    """QEMU offers no VIRTIO_CONSOLE_F_SIZE and sends no RESIZE: the size is unknown."""
    serial = VirtioSerial(tmp_path).console("c0")
    guest = Guest("console_size", "test=console_size", serial)
    r = Reader(guest.connect("c0"))
    run = guest.wait()
    run.expect(PASS, [r"^console-size: unknown \(the device offers no VIRTIO_CONSOLE_F_SIZE and "
                      r"sent no RESIZE\)$", r"^TEST PASS: console_size$"])
    assert r.wait_for(lambda rd: b"console-size: this line is on the console\r\n" in rd.data, 5)


@pytest.mark.parametrize("cmdline,lines", [
    ("size=80x24", [r"^console-size: unknown \(", r"^console-size: expected 80x24$"]),
    ("console=uart", [r"^vcon: .*port 0 is a console; console=uart keeps stdio on the UART$",
                      r"^console-size: stdio is not a virtio console$"]),
], ids=["size-expected", "stdio-on-uart"])
def test_console_size_fails(tmp_path, cmdline, lines):
    """The check fails when the size is not the one expected, and when stdio is not
    a virtio console."""
    serial = VirtioSerial(tmp_path).console("c0")
    guest = Guest("console_size_fails", f"test=console_size {cmdline}", serial)
    guest.connect("c0")
    guest.wait().expect(FAIL, lines + [r"^TEST FAIL: console_size \(1\)$"],
                        absent=[r"this line is on the console", r"^TEST PASS"])


def test_console_panic_emergency_write(tmp_path):
    """A panic reaches the UART and, through emerg_wr, the virtio console."""
    serial = VirtioSerial(tmp_path).console("c0")
    guest = Guest("console_panic", "test=console_panic", serial)
    r = Reader(guest.connect("c0"))
    run = guest.wait()
    run.expect(FAIL, [r"^PANIC: console-panic: deliberate$", r"^backtrace:$"])
    assert r.wait_for(lambda rd: b"PANIC: console-panic: deliberate\r\n" in rd.data, 5), r.data
    assert b"console-panic: about to panic\r\n" in r.data


def test_console_single_port(tmp_path):
    """max_ports=1: no MULTIPORT, no control queues; port 0 is the console."""
    guest, sock, r = start_shell(tmp_path, "console_single_port", max_ports=1)
    out = shell_cmd(sock, r, b"vcon")
    assert "1 port, single port, emergency write on" in out, out
    assert re.search(r"^  port 0 +- +console \(stdio\), host open, guest open", out, re.M), out
    sock.sendall(b"poweroff\r")
    guest.wait().expect(PASS, [r"^vcon: .*: 1 port, split ring"])


def irq_session(tmp_path, name, mode, queues=r"\d+", guest_kw=None, **serial_kw):
    """A shell session on a PCI console whose interrupt mode must be exactly mode:
    a line echoed, then the `virtio` and `vcon` checks (check_irq, check_polls)."""
    guest, sock, r = start_shell(tmp_path, name, guest_kw=guest_kw, **serial_kw)
    assert "\nstill here\n" in shell_cmd(sock, r, b"echo still here")
    check_irq(shell_cmd(sock, r, b"virtio"), r"00:0\d\.0", mode)
    check_polls(shell_cmd(sock, r, b"vcon"), mode == "polling")
    sock.sendall(b"poweroff\r")
    guest.wait().expect(PASS, [rf"^virtio: virtio-console 00:0\d\.0: modern interface, {queues} "
                               rf"queues, interrupts {re.escape(mode)}$"])


def test_console_msix_own(tmp_path):
    """max_ports=2, vectors=8: 6 queues and the configuration fit in 8 entries, so each
    queue has an MSI-X entry of its own ("MSI-X", not "MSI-X shared")."""
    irq_session(tmp_path, "console_msix_own", "MSI-X", queues="6", max_ports=2, vectors=8)


@pytest.mark.parametrize("packed", [False, True], ids=["split", "packed"])
def test_console_intx_without_msix(tmp_path, packed):
    """vectors=0: no MSI-X, the queues interrupt by INTx; shell and 1 MiB both ways work."""
    irq_session(tmp_path, f"console_intx_{packed}", "INTx", vectors=0, packed=packed)
    bulk_run(tmp_path, f"console_intx_echo_{packed}", "echo", packed, nbytes=MiB)


def test_console_polled_microvm(tmp_path):
    """microvm,pcie=on with vectors=0: no MSI-X and no INTx routing, every queue
    polled: no queue takes an interrupt, the driver counts its polling rounds."""
    irq_session(tmp_path, "console_polled_microvm", "polling", vectors=0,
                guest_kw={"machine": "microvm,pcie=on"})


@pytest.mark.parametrize("t", [tp.MMIO, tp.MMIO_CMDLINE], ids=str)
def test_console_shell_mmio(tmp_path, t):
    """The shell on a virtio console behind virtio-mmio: by interrupt (ACPI), polled
    (acpi=off); the `virtio` command shows the transport and its queues."""
    guest, sock, r = start_shell(tmp_path, f"console_shell_{t}", t=t)
    assert "\nhello mmio\n" in shell_cmd(sock, r, b"echo hello mmio")
    out = shell_cmd(sock, r, b"virtio")
    mode = "polling" if t is tp.MMIO_CMDLINE else "GSI 47 level"
    slot = tp.MMIO_SLOT_CMDLINE if t is tp.MMIO_CMDLINE else tp.MMIO_SLOT_ACPI
    check_irq(out, slot, mode)
    assert re.search(r"^  queue 0 +\d+ split +added \d+ used \d+", out, re.M), out
    check_polls(shell_cmd(sock, r, b"vcon"), t is tp.MMIO_CMDLINE)
    sock.sendall(b"poweroff\r")
    guest.wait().expect(PASS, [rf"^vcon: virtio-console {slot}: port 0 is the console"])


def test_console_mirror(tmp_path):
    """console=mirror: the shell reads both consoles and writes to both."""
    serial = VirtioSerial(tmp_path).console("c0")
    guest = Guest("console_mirror", "app=shell console=mirror", serial,
                  input=b"echo typed-on-uart\r", input_delay=1.0)
    sock = guest.connect("c0")
    r = Reader(sock)
    assert r.until(b"typed-on-uart\r\n> ") >= 0
    sock.sendall(b"poweroff\r")
    run = guest.wait()
    run.expect(PASS, [r"port 0 is the console: stdin, stdout and stderr are on it, mirrored "
                      r"with the UART$", r"^> echo typed-on-uart$", r"^typed-on-uart$",
                      r"^> poweroff$"])


def test_console_uart_keeps_stdio(tmp_path):
    """console=uart: the shell stays on the UART although a virtio console is there."""
    serial = VirtioSerial(tmp_path).console("c0")
    guest = Guest("console_uart", "app=shell console=uart", serial,
                  input=b"vcon\rpoweroff\r", input_delay=1.0)
    guest.connect("c0")
    guest.wait().expect(PASS, [r"port 0 is a console; console=uart keeps stdio on the UART$",
                               r"^  port 0 +- +console, host open", r"^poweroff$"])


def test_console_oversized_name(tmp_path):
    """A port name longer than the driver takes: logged, ignored, the rest works."""
    serial = VirtioSerial(tmp_path).console("c0").port("p1", "n" * 100).port("p2", "ok.name")
    guest = Guest("console_long_name", "app=shell", serial)
    sock = guest.connect("c0")
    r = Reader(sock)
    assert r.until(b"> ") >= 0
    out = shell_cmd(sock, r, b"vcon")
    assert re.search(r"^  port 1 +- +port, host closed", out, re.M), out
    assert re.search(r"^  port 2 +ok\.name +port", out, re.M), out
    assert "1 refused" in out
    sock.sendall(b"poweroff\r")
    guest.wait().expect(PASS, [r"^vcon: .*control: PORT_NAME for port 1 is 100 bytes, longer than "
                               r"63: ignored, the port stays unnamed$"])


def test_no_virtio_console_nothing_changes(boot):
    """Without a virtio console the shell and the kernel log stay on the UART."""
    boot(cmdline="app=shell", input=b"vcon\rpoweroff\r", input_delay=0.3).expect(
        PASS, [r"^> vcon$", r"^no virtio console$", r"^poweroff$"], absent=[r"^vcon: "])


def test_console_more_ports_than_queues(tmp_path):
    """max_ports=40 (82 queues): the driver drives its 32 ports, a port beyond them is
    refused and logged, the console works."""
    serial = (VirtioSerial(tmp_path, max_ports=40).console("c0")
              .port("p1", "low.port").port("p2", "high.port"))
    serial.ports[-1] = ("p2", "virtserialport,chardev=p2,name=high.port,nr=35", False)
    guest = Guest("console_40_ports", "app=shell", serial)
    sock = guest.connect("c0")
    r = Reader(sock)
    assert r.until(b"> ") >= 0
    out = shell_cmd(sock, r, b"vcon")
    assert re.search(r"^  port 1 +low\.port +port", out, re.M), out
    sock.sendall(b"poweroff\r")
    guest.wait().expect(PASS, [r"^virtio: virtio-console 00:01\.0: modern interface, 82 queues",
                               r"^vcon: .*: device has 40 ports, driving the first 32$",
                               r"control: DEVICE_ADD for port 35, which does not exist \(32 "
                               r"ports\): ignored$"])


def test_console_silent_device_msix(boot):
    """A console device that never answers, its control queues on MSI-X vectors of their own
    (vectors=8): the driver halts with the local APIC timer armed, gives DEVICE_READY up after
    its second and boot goes on (without the timer the halt never ends). vcon.fault=ctrl-mute
    queues the control messages without notifying the device."""
    run = boot(cmdline="test=boot vcon.fault=ctrl-mute", timeout=40,
               devices=["-device", "virtio-serial-pci,max_ports=2,vectors=8"])
    run.expect(PASS, [r"^virtio: virtio-console 00:0\d\.0: modern interface, 6 queues, "
                      r"interrupts MSI-X$",
                      r"^vcon: virtio-console 00:0\d\.0: control: the device did not take "
                      r"DEVICE_READY for port 0 within 1000 ms: control messages are dropped "
                      r"until it takes one$",
                      r"^vcon: virtio-console 00:0\d\.0: the device did not take DEVICE_READY "
                      r"\(-\d+\)$",
                      r"^boot: ready in \d+ us$"])
