//go:build !unix

package sqlite

// Without flock the store takes no lock, and does not claim to be exclusive.
type fileLock struct{}

const lockSupported = false

func lockFile(string) (*fileLock, error) { return nil, nil }

func (*fileLock) unlock() error { return nil }
