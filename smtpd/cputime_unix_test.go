//go:build unix

package smtpd

import "syscall"

// processCPU is the CPU time (user and system) the process used so far,
// in nanoseconds; benchmarks report it per operation, which loopback
// noise from other processes disturbs less than wall time.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
