package sqlite

import (
	"errors"
	"io/fs"
	"os"
)

// privateFiles makes the database file exist with mode 0600 before SQLite
// opens it, and narrows the modes of an existing database and of its WAL
// and shared-memory files to 0600: they hold password and token hashes.
// SQLite creates the -wal and -shm files with the database file's mode, so
// they stay private afterwards. Creating the file first, rather than
// chmod-ing it after SQLite made it, leaves no moment in which another
// user could open it.
func privateFiles(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}
