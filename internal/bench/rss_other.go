//go:build !unix

package bench

// maxRSSMB is unknown where getrusage is missing.
func maxRSSMB() float64 { return 0 }
