package bench

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
)

// PeakRSSMB returns the peak resident set size of this process in MiB: VmHWM from
// /proc/self/status on Linux, else the getrusage maximum, else 0.
func PeakRSSMB() float64 {
	if kb, ok := vmHWM(); ok {
		return float64(kb) / 1024
	}
	return maxRSSMB()
}

func vmHWM() (int64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "VmHWM:") {
			continue
		}
		fields := strings.Fields(strings.TrimPrefix(line, "VmHWM:"))
		if len(fields) == 0 {
			return 0, false
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		return kb, err == nil
	}
	return 0, false
}
