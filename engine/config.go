package engine

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
)

// configNamePattern is what a Config directive's name may look like; the
// names and values come from the API's parameter catalogue, and this keeps
// anything else out of the rendered configuration file.
var configNamePattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,63}$`)

// reservedConfig are directives keyward sets itself: a Config cannot
// override them.
var reservedConfig = []string{
	"bind", "port", "tls-port", "daemonize", "dir", "aclfile", "logfile", "proc-title-template",
	"appendonly", "appendfsync", "save", "enable-debug-command", "enable-module-command",
	"acl-pubsub-default", "repl-diskless-sync-delay", "masteruser", "masterauth", "replicaof", "slaveof",
	"maxmemory", "maxmemory-policy", "requirepass", "rename-command", "include", "loadmodule",
	"tls-cert-file", "tls-key-file", "tls-ca-cert-file", "tls-auth-clients", "tls-replication",
	"cluster-enabled", "cluster-config-file", "unixsocket", "pidfile",
	"cluster-announce-tls-port", "cluster-announce-port", "cluster-announce-ip", "cluster-port",
}

func (s NodeSpec) validateConfig() error {
	for k, v := range s.Config {
		if !configNamePattern.MatchString(k) || slices.Contains(reservedConfig, k) {
			return fmt.Errorf("engine: node %s: configuration directive %q cannot be set", s.ID, k)
		}
		if len(v) > 1024 {
			return fmt.Errorf("engine: node %s: value of %s too long", s.ID, k)
		}
	}
	return nil
}

// writeExtraConfig renders spec.Config, sorted by name.
func writeExtraConfig(p func(args ...string), spec NodeSpec) {
	for _, k := range slices.Sorted(maps.Keys(spec.Config)) {
		p(k, confQuote(spec.Config[k]))
	}
}

// applyConfig makes the running node's Config directives spec.Config with
// CONFIG SET: new or changed ones are set (the value each replaces is kept
// first, once), dropped ones get their kept value back. Then it records
// the spec, so that a restarted node comes up with the same directives.
func (m *Manager) applyConfig(ctx context.Context, n *node, spec NodeSpec) error {
	m.mu.Lock()
	prev, originals, live := maps.Clone(n.rec.Spec.Config), maps.Clone(n.rec.ConfigOriginals), maps.Clone(n.rec.ConfigLive)
	m.mu.Unlock()
	if originals == nil {
		originals = map[string]string{}
	}
	if live == nil {
		live = map[string]string{}
	}
	err := m.withAdmin(ctx, n, func(c *respConn) error {
		for _, k := range slices.Sorted(maps.Keys(spec.Config)) {
			v := spec.Config[k]
			if cur, ok := prev[k]; ok && cur == v {
				continue
			}
			if _, ok := originals[k]; !ok {
				r, err := c.do(ctx, "CONFIG", "GET", k)
				if err != nil {
					return fmt.Errorf("CONFIG GET %s: %w", k, err)
				}
				old, ok := configValue(r, k)
				if !ok {
					return fmt.Errorf("CONFIG GET %s: the engine has no such directive", k)
				}
				originals[k] = old
			}
			if _, err := c.do(ctx, "CONFIG", "SET", k, v); err != nil {
				return fmt.Errorf("CONFIG SET %s: %w", k, err)
			}
			r, err := c.do(ctx, "CONFIG", "GET", k)
			if err != nil {
				return fmt.Errorf("CONFIG GET %s: %w", k, err)
			}
			live[k], _ = configValue(r, k)
		}
		for k := range prev {
			if _, kept := spec.Config[k]; kept {
				continue
			}
			if old, ok := originals[k]; ok {
				if _, err := c.do(ctx, "CONFIG", "SET", k, old); err != nil {
					return fmt.Errorf("CONFIG SET %s: %w", k, err)
				}
				delete(originals, k)
			}
			delete(live, k)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("engine: node %s: %w", n.id, err)
	}
	m.setRecord(n, func(r *record) {
		r.Spec.Config, r.ConfigOriginals, r.ConfigLive = maps.Clone(spec.Config), originals, live
	})
	return m.writeNodeFiles(n)
}

// repairConfig sets again the Config directives whose live value is no
// longer the one read back when keyward set it (drift, e.g. an operator's
// CONFIG SET as the admin user; tenants cannot run CONFIG).
func (m *Manager) repairConfig(ctx context.Context, n *node, spec NodeSpec) error {
	m.mu.Lock()
	live := maps.Clone(n.rec.ConfigLive)
	m.mu.Unlock()
	keys := slices.Sorted(maps.Keys(spec.Config))
	keys = slices.DeleteFunc(keys, func(k string) bool { _, ok := live[k]; return !ok })
	if len(keys) == 0 {
		return nil
	}
	cmds := make([][]string, len(keys))
	for i, k := range keys {
		cmds[i] = []string{"CONFIG", "GET", k}
	}
	return m.withAdmin(ctx, n, func(c *respConn) error {
		replies, err := c.pipeline(ctx, cmds)
		if err != nil {
			return err
		}
		for i, k := range keys {
			if v, ok := configValue(replies[i], k); ok && v == live[k] {
				continue
			}
			if _, err := c.do(ctx, "CONFIG", "SET", k, spec.Config[k]); err != nil {
				return fmt.Errorf("engine: node %s: CONFIG SET %s: %w", n.id, k, err)
			}
			m.log.Info("engine: repaired configuration drift", "node", n.id, "directive", k)
		}
		return nil
	})
}

// configValue finds name's value in a CONFIG GET reply (a flat array of
// names and values, in RESP2).
func configValue(reply any, name string) (string, bool) {
	items, _ := reply.([]any)
	for i := 0; i+1 < len(items); i += 2 {
		if k, _ := items[i].(string); k == name {
			v, ok := items[i+1].(string)
			return v, ok
		}
	}
	return "", false
}
