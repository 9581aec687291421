package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	"keyward"
)

// Restores key by key: a cache with RestoreFiles (a cluster-mode restore,
// or a serverless cache restored from several RDBs) first runs its nodes
// empty; then every key of every file is written to the primary that owns
// it (in cluster mode: the shard serving the key's slot, whatever the
// snapshot's shards were), the replicas are waited for until they hold as
// many keys as their primaries, and only then are the files cleared, so
// the cache becomes available with the data on every node. A crash on the
// way leaves the files in place and the next pass loads them again
// (RESTORE ... REPLACE: the same keys, the same values).

// DumpedKey is one key read from an RDB: its DUMP payload and remaining
// time to live in milliseconds (0: none).
type DumpedKey struct {
	Key, Payload string
	TTL          int64
}

// KeyLoader is what restores key by key need of the data plane.
type KeyLoader interface {
	// ReadKeys calls fn with the keys of a restore source (a snapshot
	// file or a keyward.S3Source), batch by batch. A source that is
	// missing or not an RDB is a Terminal error.
	ReadKeys(ctx context.Context, engine keyward.Engine, src string, fn func([]DumpedKey) error) error
	// RestoreKeys writes keys to a node, replacing existing ones.
	RestoreKeys(ctx context.Context, nodeID string, keys []DumpedKey) error
	// KeyCount returns a node's number of keys.
	KeyCount(ctx context.Context, nodeID string) (int64, error)
}

// restoreTimeout bounds one pass of loading and waiting for the replicas.
const restoreTimeout = 10 * time.Minute

// loadRestore loads a creating cache's RestoreFiles into its running
// nodes. roles are the roles this pass learned from the nodes (nil: the
// stored ones): keys go to, and replicas are compared with, each shard's
// primary as the nodes report it, not the shard's first node. It reports
// whether the cache is ready to become available (nothing to load, or
// loaded and on every replica).
func (c *Controller) loadRestore(ctx context.Context, cache *keyward.Cache, roles []keyward.CacheNode) (bool, error) {
	if cache.Status != keyward.CacheCreating || len(cache.RestoreFiles) == 0 {
		return true, nil
	}
	if len(roles) == len(cache.Nodes) {
		cache = cache.Clone()
		for i := range cache.Nodes {
			if roles[i].ClusterID == cache.Nodes[i].ClusterID {
				cache.Nodes[i].Role = roles[i].Role
			}
		}
	}
	kl, ok := c.Engine.(KeyLoader)
	if !ok {
		return false, Terminal(errors.New("reconcile: the engine cannot restore key by key"))
	}
	ctx, cancel := context.WithTimeout(ctx, restoreTimeout)
	defer cancel()
	route, err := keyRoute(cache)
	if err != nil {
		return false, Terminal(err)
	}
	start := time.Now()
	var total int
	for _, src := range cache.RestoreFiles {
		err := kl.ReadKeys(ctx, cache.Engine, src, func(keys []DumpedKey) error {
			byNode := map[int][]DumpedKey{}
			for _, k := range keys {
				i := route(k.Key)
				byNode[i] = append(byNode[i], k)
			}
			for i, ks := range byNode {
				if err := kl.RestoreKeys(ctx, cache.NodeID(cache.Nodes[i].ClusterID), ks); err != nil {
					return err
				}
			}
			total += len(keys)
			return nil
		})
		if err != nil {
			return false, fmt.Errorf("reconcile: restore %s: %w", cache.ID, err)
		}
	}
	// Every replica holds as many keys as its primary.
	for {
		synced := true
		for i, n := range cache.Nodes {
			p := cache.PrimaryIndex()
			if cache.ClusterMode {
				p = shardPrimary(cache, i)
			}
			if p == i {
				continue
			}
			want, err := kl.KeyCount(ctx, cache.NodeID(cache.Nodes[p].ClusterID))
			if err != nil {
				return false, err
			}
			got, err := kl.KeyCount(ctx, cache.NodeID(n.ClusterID))
			if err != nil {
				return false, err
			}
			synced = synced && got == want
		}
		if synced {
			break
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	c.Logger.Info("reconcile: restored keys", "cache", cache.ID, "keys", total, "files", len(cache.RestoreFiles), "took", time.Since(start))
	err = c.update(ctx, func(tx keyward.Tx) error {
		cur, err := tx.FindCacheByID(ctx, cache.Scope, cache.Kind, cache.ID)
		if err != nil || cur.Generation != cache.Generation || cur.Status != keyward.CacheCreating {
			return err
		}
		next := cur.Clone()
		next.RestoreFiles = nil
		return tx.UpdateCache(ctx, next)
	})
	return false, err // the next pass completes the creation
}

// keyRoute returns, for a key, the index of the node it is written to:
// the primary of the shard owning its slot in cluster mode (shardPrimary:
// the node whose Role is primary), the primary otherwise.
func keyRoute(cache *keyward.Cache) (func(string) int, error) {
	if !cache.ClusterMode {
		p := cache.PrimaryIndex()
		return func(string) int { return p }, nil
	}
	var owner [16384]int
	for sh, shard := range cache.Shards {
		ranges, err := keyward.ParseSlots(shard.Slots)
		if err != nil {
			return nil, err
		}
		p := -1
		for i, n := range cache.Nodes {
			if n.Shard == sh {
				p = shardPrimary(cache, i)
				break
			}
		}
		if p < 0 {
			return nil, fmt.Errorf("reconcile: shard %s has no node", shard.ID)
		}
		for _, r := range ranges {
			for s := r[0]; s <= r[1]; s++ {
				owner[s] = p
			}
		}
	}
	return func(key string) int { return owner[KeySlot(key)] }, nil
}

// KeySlot returns the Redis Cluster hash slot of key: CRC16 (XMODEM) of
// the key, or of its hash tag (the part between the first { and the next
// }, when not empty), modulo 16384.
func KeySlot(key string) int {
	for i := 0; i < len(key); i++ {
		if key[i] == '{' {
			for j := i + 1; j < len(key); j++ {
				if key[j] == '}' {
					if j > i+1 {
						key = key[i+1 : j]
					}
					break
				}
			}
			break
		}
	}
	return int(crc16(key) & 16383)
}

func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// errVerified stops a verification read after the first batch.
var errVerified = errors.New("reconcile: the RDB loads")

// verifySource makes sure an RDB from a bucket (the caller's file, unlike
// keyward's own snapshots) loads before a node is seeded with it: a node
// that cannot load its data would never start, and the cache never leave
// creating. A file that does not load is a Terminal error (create-failed).
func (c *Controller) verifySource(ctx context.Context, engine keyward.Engine, src string) error {
	if _, _, s3 := keyward.ParseS3Source(src); !s3 {
		return nil
	}
	kl, ok := c.Engine.(KeyLoader)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, restoreTimeout)
	defer cancel()
	err := kl.ReadKeys(ctx, engine, src, func([]DumpedKey) error { return errVerified })
	if err == nil || errors.Is(err, errVerified) {
		return nil
	}
	return fmt.Errorf("reconcile: restore from %s: %w", src, err)
}
