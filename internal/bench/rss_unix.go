//go:build unix

package bench

import (
	"runtime"
	"syscall"
)

// maxRSSMB reads ru_maxrss, which Linux and the BSDs give in KiB and macOS in bytes.
func maxRSSMB() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		return float64(ru.Maxrss) / (1 << 20)
	}
	return float64(ru.Maxrss) / 1024
}
