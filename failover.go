package keyward

// failoverEvents are the events of a replication group's failover, as
// ElastiCache words them (its TestFailover documentation lists them in
// order): a replica promoted in place of its node group's primary, the
// former primary recovering, and its recovery finished.
func failoverEvents(old, cur *Cache) []*Event {
	if old == nil || cur == nil || cur.Kind != KindReplicationGroup {
		return nil
	}
	at := now()
	was := map[string]CacheNode{}
	for _, n := range old.Nodes {
		was[n.ClusterID] = n
	}
	sameGroup := func(a, b CacheNode) bool { return !cur.ClusterMode || a.Shard == b.Shard }
	es := memberEvents(old, cur, was)
	for _, n := range cur.Nodes {
		o, ok := was[n.ClusterID]
		if !ok || o.Role != "replica" || n.Role != "primary" {
			continue
		}
		from := ""
		for _, m := range cur.Nodes {
			if p, ok := was[m.ClusterID]; ok && p.Role == "primary" && m.Role != "primary" && sameGroup(p, n) {
				from = m.ClusterID
			}
		}
		if from == "" {
			continue
		}
		msg := "Failover from primary node " + from + " to replica node " + n.ClusterID + " completed"
		es = append(es, event(cur.Scope, SourceCacheCluster, n.ClusterID, at, "%s", msg), event(cur.Scope, SourceReplicationGroup, cur.ID, at, "%s", msg))
	}
	for _, n := range cur.Nodes {
		o, ok := was[n.ClusterID]
		if !ok {
			continue
		}
		demoted := o.Role == "primary" && n.Role == "replica"
		if n.Recovering && !o.Recovering || demoted && !o.Recovering {
			es = append(es, event(cur.Scope, SourceCacheCluster, n.ClusterID, at, "Recovering cache nodes 0001"))
		}
		if !n.Recovering && (o.Recovering || demoted) {
			es = append(es, event(cur.Scope, SourceCacheCluster, n.ClusterID, at, "Finished recovery for cache nodes 0001"))
		}
	}
	return es
}

// memberEvents are the events of member clusters that a running group
// gained (once their node first ran) or lost, outside the group's own
// creation, which reports its members itself.
func memberEvents(old, cur *Cache, was map[string]CacheNode) []*Event {
	if old.Status == CacheCreating || cur.Status == CacheCreating {
		return nil
	}
	at := now()
	var es []*Event
	is := map[string]bool{}
	for i, n := range cur.Nodes {
		is[n.ClusterID] = true
		if o, ok := was[n.ClusterID]; (!ok || o.Port == 0) && n.Port != 0 {
			az := cur.Scope.Region + string(rune('a'+i%3))
			if i < len(cur.Settings.PreferredAZs) {
				az = cur.Settings.PreferredAZs[i]
			}
			es = append(es, event(cur.Scope, SourceCacheCluster, n.ClusterID, at, "Cache cluster created"),
				event(cur.Scope, SourceCacheCluster, n.ClusterID, at, "Added cache node 0001 in availability zone %s", az))
		}
	}
	for _, n := range old.Nodes {
		if !is[n.ClusterID] {
			es = append(es, event(cur.Scope, SourceCacheCluster, n.ClusterID, at, "Cache cluster deleted"))
		}
	}
	return es
}
