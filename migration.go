package keyward

import (
	"slices"
	"time"
)

// CacheMigrating is the status of a replication group whose primary
// replicates from a Redis outside keyward (StartMigration) until
// CompleteMigration.
const CacheMigrating CacheStatus = "migrating"

// Migration statuses (CacheMigration.Status). A replication group's
// migration is syncing from StartMigration and completing after
// CompleteMigration; a serverless cache's is prepared by
// PrepareMigration, syncing after StartMigration, stopped by
// StopMigration and completing (ElastiCache's "cutover") after
// CompleteMigration or, with AutoCutover, once the sync is established.
const (
	MigrationPrepared   = "prepared"
	MigrationSyncing    = "syncing"
	MigrationStopped    = "stopped"
	MigrationCompleting = "cutover"
)

// CacheMigration is an online migration into a cache from a Redis server
// keyward does not run: while it syncs, the cache's primary replicates from
// Source (REPLICAOF), so the cache takes no writes; completing it makes the
// primary a primary again.
type CacheMigration struct {
	Source string    `json:"source"` // host:port
	Status string    `json:"status"`
	Since  time.Time `json:"since"`
	// AutoCutover completes a serverless migration as soon as the sync
	// is established.
	AutoCutover bool `json:"auto_cutover,omitempty"`
	// Force completes without waiting for the replication link to be
	// in sync (CompleteMigration Force).
	Force bool `json:"force,omitempty"`
	// Started tells whether a sync ever started (after StopMigration,
	// StartMigration must ask for ClearTargetCacheData).
	Started bool `json:"started,omitempty"`
}

// Following reports whether the cache's primary is to replicate from the
// source now.
func (m *CacheMigration) Following() bool {
	if m == nil {
		return false
	}
	return m.Status == MigrationSyncing || m.Status == MigrationCompleting && !m.Force
}

// Update-action and node-update statuses of a service update being
// applied (ElastiCache's UpdateActionStatus and NodeUpdateStatus values).
const (
	UpdateNotApplied = "not-applied"
	UpdateWaiting    = "waiting-to-start"
	UpdateInProgress = "in-progress"
	UpdateStopping   = "stopping"
	UpdateStopped    = "stopped"
	UpdateComplete   = "complete"
)

// CacheUpdate is a service update applied to a replication group or a
// cache cluster (BatchApplyUpdateAction): a rolling restart of its nodes,
// replicas first.
type CacheUpdate struct {
	Name     string       `json:"name"`
	Status   string       `json:"status"`
	Since    time.Time    `json:"since"`
	Applied  time.Time    `json:"applied"` // when BatchApplyUpdateAction was called
	Nodes    []NodeUpdate `json:"nodes"`
	Complete time.Time    `json:"complete,omitzero"`
}

// NodeUpdate is one node's progress in a CacheUpdate.
type NodeUpdate struct {
	// ClusterID names the node: a replication group's member cluster, or
	// a cache cluster's node id (0001...).
	ClusterID string    `json:"cluster_id"`
	Status    string    `json:"status"`
	Since     time.Time `json:"since"`
	Started   time.Time `json:"started,omitzero"`
	Ended     time.Time `json:"ended,omitzero"`
}

// Update returns the cache's record of the named service update, or nil.
func (rg *Cache) Update(name string) *CacheUpdate { return findUpdate(rg.Updates, name) }

// ActiveUpdate returns the update being applied (in progress or stopping),
// or nil: a cache applies one update at a time.
func (rg *Cache) ActiveUpdate() *CacheUpdate { return activeUpdate(rg.Updates) }

// Update returns the cluster's record of the named service update, or nil.
func (c *CacheCluster) Update(name string) *CacheUpdate { return findUpdate(c.Updates, name) }

// ActiveUpdate returns the update the cluster is applying, or nil.
func (c *CacheCluster) ActiveUpdate() *CacheUpdate { return activeUpdate(c.Updates) }

func findUpdate(us []CacheUpdate, name string) *CacheUpdate {
	for i := range us {
		if us[i].Name == name {
			return &us[i]
		}
	}
	return nil
}

func activeUpdate(us []CacheUpdate) *CacheUpdate {
	for i := range us {
		if s := us[i].Status; s == UpdateInProgress || s == UpdateStopping || s == UpdateWaiting {
			return &us[i]
		}
	}
	return nil
}

// NodeUpdate returns the update's record of the node (a replication
// group's member cluster id, or a cache cluster's node id), or nil.
func (u *CacheUpdate) NodeUpdate(id string) *NodeUpdate {
	for i := range u.Nodes {
		if u.Nodes[i].ClusterID == id {
			return &u.Nodes[i]
		}
	}
	return nil
}

func cloneUpdates(us []CacheUpdate) []CacheUpdate {
	out := slices.Clone(us)
	for i := range out {
		out[i].Nodes = slices.Clone(us[i].Nodes)
	}
	return out
}

func cloneMigration(m *CacheMigration) *CacheMigration {
	if m == nil {
		return nil
	}
	c := *m
	return &c
}

// restartEvents reports the member nodes a reboot or a service update
// restarted, as ElastiCache does ("Cache node 0001 restarted").
func restartEvents(old, cur *Cache) []*Event {
	if old == nil || cur == nil || cur.Kind != KindReplicationGroup {
		return nil
	}
	var es []*Event
	restarted := func(clusterID string) {
		es = append(es, event(cur.Scope, SourceCacheCluster, clusterID, now(), "Cache node 0001 restarted"))
	}
	for _, n := range cur.Nodes {
		i := slices.IndexFunc(old.Nodes, func(o CacheNode) bool { return o.ClusterID == n.ClusterID })
		if i >= 0 && old.Nodes[i].Reboot && !n.Reboot {
			restarted(n.ClusterID)
		}
	}
	for _, u := range cur.Updates {
		ou := old.Update(u.Name)
		for _, nu := range u.Nodes {
			if nu.Status != UpdateComplete || ou == nil {
				continue
			}
			if j := slices.IndexFunc(ou.Nodes, func(o NodeUpdate) bool { return o.ClusterID == nu.ClusterID }); j >= 0 && ou.Nodes[j].Status == UpdateInProgress {
				restarted(nu.ClusterID)
			}
		}
	}
	return es
}
