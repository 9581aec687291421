package sqlite

import (
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// changeCounter reads SQLite's WAL-index change counter: the iChange
// field of the wal-index header, at the start of the database's -shm file
// (https://www.sqlite.org/walformat.html, "The WAL-Index Header"), which
// every connection of every process maps and which every committed write
// transaction increments, after its WAL frames are synced. Reading it
// tells a View, without SQL, whether anyone committed since the last
// commit the in-memory index holds (memIndex.pin).
//
// The header is held twice (two copies of 48 bytes, in native byte
// order); a writer writes the second, then the first. A View reads the
// first, then the second, and takes the counter only if both agree.
type changeCounter struct {
	mem []byte // the first page of the -shm file, mapped read-only
}

const (
	walIndexHdrSize = 48
	iChangeOffset   = 8
)

// openChangeCounter maps the wal-index of the WAL database at path, which
// an open connection has created.
func openChangeCounter(path string) (*changeCounter, error) {
	f, err := os.Open(path + "-shm")
	if err != nil {
		return nil, err
	}
	defer f.Close() // the mapping stays
	if fi, err := f.Stat(); err != nil {
		return nil, err
	} else if fi.Size() < 2*walIndexHdrSize {
		return nil, fmt.Errorf("%s: %d bytes, no wal-index header", f.Name(), fi.Size())
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, 2*walIndexHdrSize, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map %s: %w", f.Name(), err)
	}
	return &changeCounter{mem: mem}, nil
}

// read returns the counter, and false if the two copies kept disagreeing
// (a commit writing the header, again and again).
func (c *changeCounter) read() (uint32, bool) {
	for range 100 {
		first := atomic.LoadUint32((*uint32)(unsafe.Pointer(&c.mem[iChangeOffset])))
		second := atomic.LoadUint32((*uint32)(unsafe.Pointer(&c.mem[walIndexHdrSize+iChangeOffset])))
		if first == second {
			return first, true
		}
	}
	return 0, false
}

func (c *changeCounter) close() error { return syscall.Munmap(c.mem) }
