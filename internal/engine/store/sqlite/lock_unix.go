//go:build unix

package sqlite

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// fileLock is an advisory lock on a file beside the database, held for a Store's life.
// flock locks belong to the open file, so a second Store on the same database fails to
// lock whether it is in another process or in this one.
type fileLock struct{ f *os.File }

const lockSupported = true

func lockFile(path string) (*fileLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock %s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return &fileLock{f: f}, nil
}

// unlock releases the lock (closing the file drops it). The lock file stays: removing it
// could race with another process that has just opened it.
func (l *fileLock) unlock() error {
	if l == nil {
		return nil
	}
	return l.f.Close()
}
