package peer

import (
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// procInfo is what the harness reads from /proc/PID/stat.
type procInfo struct {
	pid, ppid, pgrp int
	state           byte // R, S, D, Z, ...
}

// readProc reads /proc/PID/stat. It reports false when the process does
// not exist (or the line cannot be read).
func readProc(pid int) (procInfo, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return procInfo{}, false
	}
	return parseProcStat(string(b))
}

// parseProcStat parses "pid (comm) state ppid pgrp ...". The command name
// may hold spaces and parentheses, so the fields start after the last ')'.
func parseProcStat(line string) (procInfo, bool) {
	end := strings.LastIndexByte(line, ')')
	open := strings.IndexByte(line, '(')
	if end < 0 || open < 1 {
		return procInfo{}, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line[:open]))
	if err != nil {
		return procInfo{}, false
	}
	f := strings.Fields(line[end+1:])
	if len(f) < 3 || len(f[0]) != 1 {
		return procInfo{}, false
	}
	ppid, err1 := strconv.Atoi(f[1])
	pgrp, err2 := strconv.Atoi(f[2])
	if err1 != nil || err2 != nil {
		return procInfo{}, false
	}
	return procInfo{pid: pid, ppid: ppid, pgrp: pgrp, state: f[0][0]}, true
}

// live reports whether the process exists and has not exited. A zombie
// counts as gone: a daemonised master is reaped by PID 1, which in a
// container may never do so.
func (p procInfo) live() bool { return p.state != 'Z' && p.state != 'X' }

// processes returns every live process for which keep reports true.
func processes(keep func(procInfo) bool) []procInfo {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []procInfo
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := readProc(pid); ok && p.live() && keep(p) {
			out = append(out, p)
		}
	}
	return out
}

// alive reports whether pid names a live process.
func alive(pid int) bool {
	p, ok := readProc(pid)
	return ok && p.live()
}

// groupAlive reports whether any live process is in process group pgid.
func groupAlive(pgid int) bool {
	return len(processes(func(p procInfo) bool { return p.pgrp == pgid })) > 0
}

// children returns the PIDs of the live children of pid.
func children(pid int) []int {
	var out []int
	for _, p := range processes(func(p procInfo) bool { return p.ppid == pid }) {
		out = append(out, p.pid)
	}
	return out
}

// openFiles returns the paths of the files that process pid holds open.
// It returns an empty set when the process is gone.
func openFiles(pid int) map[string]bool {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	entries, err := os.ReadDir(dir)
	out := make(map[string]bool, len(entries))
	if err != nil {
		return out
	}
	for _, e := range entries {
		if target, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil {
			out[target] = true
		}
	}
	return out
}

// listens reports whether process pid holds a TCP socket listening on
// host:port (or on the unspecified address and port), according to
// /proc/net/tcp, /proc/net/tcp6 and the process's open files. Unlike a
// test connection, looking leaves no trace in the peer (a Postfix smtpd
// would call its milters), and unlike a bare connect it cannot mistake
// another program on the port for the peer.
func listens(pid int, host string, port int) bool {
	want := net.ParseIP(host)
	open := openFiles(pid)
	for _, name := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			l, ok := parseProcNetListen(line)
			if ok && l.port == port && (l.ip.Equal(want) || l.ip.IsUnspecified()) &&
				open["socket:["+l.inode+"]"] {
				return true
			}
		}
	}
	return false
}

// tcpListen is the socket state LISTEN in /proc/net/tcp.
const tcpListen = "0A"

// procListener is a listening socket from /proc/net/tcp.
type procListener struct {
	ip    net.IP
	port  int
	inode string
}

// parseProcNetListen parses a /proc/net/tcp{,6} line of a listening
// socket: "sl local_address rem_address st tx:rx tr:when retrnsmt uid
// timeout inode ...", where the local address is hex 32-bit words in host
// (little-endian) order, a colon, and the hex port.
func parseProcNetListen(line string) (procListener, bool) {
	f := strings.Fields(line)
	if len(f) < 10 || f[3] != tcpListen {
		return procListener{}, false
	}
	addr, portHex, ok := strings.Cut(f[1], ":")
	raw, err := hex.DecodeString(addr)
	if !ok || err != nil || (len(raw) != net.IPv4len && len(raw) != net.IPv6len) {
		return procListener{}, false
	}
	for i := 0; i < len(raw); i += 4 {
		slices.Reverse(raw[i : i+4])
	}
	port, err := strconv.ParseUint(portHex, 16, 16)
	if err != nil {
		return procListener{}, false
	}
	return procListener{ip: net.IP(raw), port: int(port), inode: f[9]}, true
}
