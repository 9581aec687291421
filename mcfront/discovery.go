package mcfront

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"keyward/internal/atomicfile"
)

// Discovery is what Auto Discovery reports of a cluster: its configuration
// version and its nodes, in order.
type Discovery struct {
	Version int64      `json:"version"`
	Nodes   []Endpoint `json:"nodes"`
}

// Endpoint is one node as Auto Discovery lists it, plus the address of its
// memcached process (Backend), which a configuration endpoint relays to.
type Endpoint struct {
	Host    string `json:"host"`
	IP      string `json:"ip"`
	Port    int    `json:"port"`
	Backend string `json:"backend,omitempty"`
}

// Body is the value of the cluster configuration: the version and the
// nodes as "host|ip|port", space-separated, each line ended by "\n".
func (d Discovery) Body() []byte {
	var b strings.Builder
	b.WriteString(strconv.FormatInt(d.Version, 10))
	b.WriteByte('\n')
	for i, n := range d.Nodes {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s|%s|%d", n.Host, n.IP, n.Port)
	}
	b.WriteByte('\n')
	return []byte(b.String())
}

// ReadDiscovery reads a discovery file.
func ReadDiscovery(name string) (Discovery, error) {
	var d Discovery
	b, err := os.ReadFile(name)
	if err != nil {
		return d, err
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return d, fmt.Errorf("mcfront: %s: %w", name, err)
	}
	if d.Version < 1 {
		return d, fmt.Errorf("mcfront: %s: no configuration version", name)
	}
	return d, nil
}

// WriteDiscovery writes a discovery file atomically (a temporary file
// renamed over it), so that a front never reads half of one.
func WriteDiscovery(name string, d Discovery) error {
	if d.Version < 1 {
		return errors.New("mcfront: a configuration version starts at 1")
	}
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(name, append(b, '\n'), 0o600)
}
