package storetest

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"keyward"
)

// kinds are the two kinds of cache; most cache tests run for each.
var kinds = []keyward.CacheKind{keyward.KindReplicationGroup, keyward.KindServerless}

// NewCache returns a cache with every field set but the optional ones
// (pending group changes, AuthTokenOptional, FailureMessage), attached to
// the given user groups.
func NewCache(s keyward.Scope, kind keyward.CacheKind, id string, groupIDs ...string) *keyward.Cache {
	n := 2
	if kind == keyward.KindServerless {
		n = 1
	}
	c := &keyward.Cache{
		Kind: kind, Scope: s, ID: id, Description: "cache " + id,
		Engine: keyward.EngineRedis, EngineVersion: "7.1", CacheNodeType: "cache.t4g.micro",
		Status: keyward.CacheAvailable, StatusSince: T0, Generation: 1, CreatedAt: T0.Add(-2 * time.Minute),
		NumNodes: n, TransitEncryption: true,
		AuthTokenHashes:       []string{keyward.HashPassword("token-of-" + id + "-0123456789")},
		AuthTokenLastModified: T0.Add(-time.Minute + 7),
		UserGroupIDs:          groupIDs,
		AppliedACL:            "acl-" + id, AppliedDefaultUser: keyward.DefaultUserID,
	}
	for i, cid := range keyward.ClusterIDs(id, n) {
		role := "replica"
		if i == 0 {
			role = "primary"
		}
		c.Nodes = append(c.Nodes, keyward.CacheNode{ClusterID: cid, Role: role, Port: 7000 + i})
	}
	return c
}

// fullCache returns a cache with every field set, optional ones included.
func fullCache(s keyward.Scope, kind keyward.CacheKind, id string, groupIDs ...string) *keyward.Cache {
	c := NewCache(s, kind, id, groupIDs...)
	c.Status = keyward.CacheModifying
	c.AuthTokenHashes = append(c.AuthTokenHashes, keyward.HashPassword("second-token-0123456789"))
	c.AuthTokenOptional = true
	c.PendingUserGroupsAdd, c.PendingUserGroupsRemove = []string{"gnew"}, []string{"gold"}
	c.FailureMessage = "node " + id + "-001 did not start"
	c.RestoreSnapshot, c.RestoreFile, c.RestoreServerless = "snap-"+id, "0123456789abcdef.rdb", true // not creating: no reference held
	c.RestoreFiles = []string{"0123456789abcdef.rdb", "s3:bucket/key-0002.rdb"}
	c.FinalSnapshot = "final-" + id
	c.Global = &keyward.CacheGlobal{ID: "ldgnf-" + id, Role: "primary"} // in another scope: no reference
	c.Settings = keyward.CacheSettings{
		AutomaticFailover: true, MultiAZ: true, AtRestEncryption: true, KmsKeyID: "alias/k-" + id,
		TransitEncryptionMode: "required", SnapshotRetentionLimit: 7, SnapshotWindow: "03:00-04:00",
		SnapshottingClusterID: id + "-002", PreferredMaintenanceWindow: "sun:22:00-sun:23:00",
		CacheParameterGroupName: "default.redis7", CacheSubnetGroupName: keyward.DefaultSubnetGroup, // built-in: a user's group would be a reference to a document the fixture lacks
		SecurityGroupIDs: []string{"sg-0123456789abcdef0"}, SubnetIDs: []string{"subnet-0123456789abcdef0"},
		PreferredAZs: []string{"us-east-1a", "us-east-1b"}, NotificationTopicARN: "arn:aws:sns:us-east-1:111111111111:t",
		NotificationTopicStatus: "active",
		LogDelivery: []keyward.LogDelivery{{LogType: "slow-log", DestinationType: "kinesis-firehose", LogGroup: "lg",
			DeliveryStream: "ds", LogFormat: "json"}},
		NoAutoMinorVersionUpgrade: true, DataTiering: true, NetworkType: "ipv4", IPDiscovery: "ipv4",
		DailySnapshotTime:    "05:00",
		UsageLimits:          &keyward.CacheUsageLimits{DataStorageMax: 10, DataStorageMin: 1, DataStorageUnit: "GB", ECPUMax: 5000, ECPUMin: 1000},
		PendingCacheNodeType: "cache.r7g.large", PendingEngineVersion: "7.1", PendingPrimaryClusterID: id + "-002",
	}
	// Cluster mode: every node in a shard (shard 0 would read as unset).
	c.ClusterMode = true
	c.Shards = []keyward.Shard{{ID: "0001", Slots: "0-8191"}, {ID: "0002", Slots: "8192-16383"}}
	for i := range c.Nodes {
		c.Nodes[i].Shard = 1
		c.Nodes[i].Address = fmt.Sprintf("127.10.0.%d", 10+i)
		c.Nodes[i].Reboot, c.Nodes[i].BootParams = true, `databases="32";`
		c.Nodes[i].Recovering = true
	}
	for i := range c.Shards {
		c.Shards[i].Removing = true
	}
	c.Resharding = &keyward.Resharding{Total: 8192, Moved: 256}
	c.TestFailover, c.TestFailoverFrom, c.TestFailoverTo = "0001", id+"-001", id+"-002"
	c.Leaving = []string{id + "-009"}
	c.Failovers = []time.Time{time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	c.Port, c.PrimaryAddress, c.ReaderAddress, c.ReaderNode = 7000, "127.10.0.1", "127.10.0.2", id+"-002"
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	c.Migration = &keyward.CacheMigration{Source: "127.0.0.1:6390", Status: keyward.MigrationCompleting, Since: at, AutoCutover: true, Force: true, Started: true}
	c.Updates = []keyward.CacheUpdate{{
		Name: "elasticache-20261110-001", Status: keyward.UpdateComplete, Since: at, Applied: at, Complete: at,
		Nodes: []keyward.NodeUpdate{{ClusterID: c.Nodes[0].ClusterID, Status: keyward.UpdateComplete, Since: at, Started: at, Ended: at}},
	}}
	return c
}

// wantAllSet fails the test if a field of v, a struct, is zero: a fixture
// meant to prove that every field round-trips must set them all, so that a
// field added to the type later is not silently left out of a store.
func wantAllSet(t *testing.T, what string, v any) {
	t.Helper()
	var check func(path string, v reflect.Value)
	check = func(path string, v reflect.Value) {
		switch {
		case v.IsZero():
			t.Errorf("%s: fixture leaves %s zero", what, path)
		case v.Kind() == reflect.Struct && v.Type() != reflect.TypeFor[time.Time]():
			for i := range v.NumField() {
				check(path+"."+v.Type().Field(i).Name, v.Field(i))
			}
		case v.Kind() == reflect.Slice:
			for i := range v.Len() {
				check(path+"["+strconv.Itoa(i)+"]", v.Index(i))
			}
		}
	}
	check(reflect.TypeOf(v).Elem().Name(), reflect.ValueOf(v).Elem())
}

func createCache(t *testing.T, s keyward.Store, c *keyward.Cache) {
	t.Helper()
	update(t, s, func(tx keyward.Tx) error { return tx.CreateCache(t.Context(), c) })
}

func findCache(t *testing.T, s keyward.Store, sc keyward.Scope, kind keyward.CacheKind, id string) *keyward.Cache {
	t.Helper()
	var c *keyward.Cache
	view(t, s, func(tx keyward.Tx) (err error) {
		c, err = tx.FindCacheByID(t.Context(), sc, kind, id)
		return err
	})
	return c
}

func findCaches(t *testing.T, s keyward.Store, sc keyward.Scope, kind keyward.CacheKind, f keyward.CacheFilter) []*keyward.Cache {
	t.Helper()
	var cs []*keyward.Cache
	view(t, s, func(tx keyward.Tx) (err error) {
		cs, err = tx.FindCaches(t.Context(), sc, kind, f)
		return err
	})
	return cs
}

// findAllCaches returns FindAllCaches sorted by scope, kind and id: the
// contract leaves the order open.
func findAllCaches(t *testing.T, s keyward.Store) []*keyward.Cache {
	t.Helper()
	var cs []*keyward.Cache
	view(t, s, func(tx keyward.Tx) (err error) {
		cs, err = tx.FindAllCaches(t.Context())
		return err
	})
	return sortCaches(cs)
}

func sortCaches(cs []*keyward.Cache) []*keyward.Cache {
	key := func(c *keyward.Cache) string {
		return c.Scope.Account + "/" + c.Scope.Region + "/" + string(c.Kind) + "/" + c.ID
	}
	return slices.SortedFunc(slices.Values(cs), func(a, b *keyward.Cache) int { return strings.Compare(key(a), key(b)) })
}

func cacheExists(t *testing.T, s keyward.Store, sc keyward.Scope, kind keyward.CacheKind, id string) bool {
	t.Helper()
	var found bool
	view(t, s, func(tx keyward.Tx) error {
		_, err := tx.FindCacheByID(t.Context(), sc, kind, id)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			return nil
		}
		found = err == nil
		return err
	})
	return found
}

// cacheRef is the tag reference of a cache.
func cacheRef(kind keyward.CacheKind, id string) keyward.ResourceRef {
	return keyward.ResourceRef{Type: keyward.ARNType(kind), ID: id}
}

// noun is how the public messages name a kind.
func noun(kind keyward.CacheKind) string {
	if kind == keyward.KindServerless {
		return "Serverless cache"
	}
	return "Replication group"
}

// createGroups creates empty user groups in a scope.
func createGroups(t *testing.T, s keyward.Store, sc keyward.Scope, ids ...string) {
	t.Helper()
	update(t, s, func(tx keyward.Tx) error {
		for _, id := range ids {
			if err := tx.CreateUserGroup(t.Context(), NewUserGroup(sc, id)); err != nil {
				return err
			}
		}
		return nil
	})
}

func testCreateCache(t *testing.T, s keyward.Store) {
	createGroups(t, s, S1, "g1", "g2")
	var all []*keyward.Cache
	for _, kind := range kinds {
		// Groups given unsorted and one twice; read back sorted, once.
		c := fullCache(S1, kind, "c1", "g2", "g1", "g2")
		c.Nodes[0].Port = 0 // not started yet
		wantAllSet(t, string(kind), fullCache(S1, kind, "c1", "g1"))
		createCache(t, s, c)

		want := c.Clone()
		want.UserGroupIDs = []string{"g1", "g2"}
		diff(t, string(kind)+" FindCacheByID", want, findCache(t, s, S1, kind, "c1"))
		diff(t, string(kind)+" FindCaches", []*keyward.Cache{want}, findCaches(t, s, S1, kind, keyward.CacheFilter{}))
		all = append(all, want)
	}
	diff(t, "FindAllCaches", sortCaches(all), findAllCaches(t, s))

	// The optional fields at their zero values round-trip too.
	c := NewCache(S1, keyward.KindReplicationGroup, "c2")
	c.Nodes, c.AuthTokenHashes, c.AuthTokenLastModified, c.TransitEncryption = nil, nil, time.Time{}, false
	c.AppliedACL, c.AppliedDefaultUser, c.Description, c.NumNodes, c.Generation = "", "", "", 0, 0
	createCache(t, s, c)
	got := findCache(t, s, S1, c.Kind, "c2")
	diff(t, "minimal cache", c, got)
	if !got.AuthTokenLastModified.IsZero() {
		t.Errorf("AuthTokenLastModified = %v, want the zero time", got.AuthTokenLastModified)
	}
}

func testCreateCacheErrExists(t *testing.T, s keyward.Store) {
	createGroups(t, s, S1, "g1", "g2")
	for _, kind := range kinds {
		before := NewCache(S1, kind, "c1", "g1")
		createCache(t, s, before)
		before.UserGroupIDs = []string{"g1"}
		update(t, s, func(tx keyward.Tx) error {
			again := NewCache(S1, kind, "c1", "g2")
			again.Description = "other"
			err := tx.CreateCache(ctx(t), again)
			wantError(t, err, keyward.EEXISTS, kind.Resource(), noun(kind)+" c1 already exists.")
			return nil // commit anyway: the failed call must have changed nothing
		})
		diff(t, string(kind)+" after a failed CreateCache", before, findCache(t, s, S1, kind, "c1"))
	}
	diff(t, "g2 ReplicationGroups", []string(nil), findGroup(t, s, S1, "g2").ReplicationGroups)
	diff(t, "g2 ServerlessCaches", []string(nil), findGroup(t, s, S1, "g2").ServerlessCaches)
}

func testCreateCacheErrUnknownGroup(t *testing.T, s keyward.Store) {
	createGroups(t, s, S1, "g1")
	createGroups(t, s, S2, "g2") // g2 exists, but in another scope
	for _, kind := range kinds {
		for _, groups := range [][]string{{"g1", "nosuch"}, {"g1", "g2"}} {
			err := s.Update(ctx(t), func(tx keyward.Tx) error {
				return tx.CreateCache(ctx(t), NewCache(S1, kind, "c1", groups...))
			})
			wantError(t, err, keyward.ENOTFOUND, keyward.ResourceUserGroup, "User group "+groups[1]+" not found.")
			if cacheExists(t, s, S1, kind, "c1") {
				t.Fatalf("%s with groups %q: created although a group is missing", kind, groups)
			}
		}
		// A failed CreateCache stores nothing, even if the caller goes on
		// and commits the transaction.
		update(t, s, func(tx keyward.Tx) error {
			err := tx.CreateCache(ctx(t), NewCache(S1, kind, "c1", "g1", "nosuch"))
			wantError(t, err, keyward.ENOTFOUND, keyward.ResourceUserGroup, "User group nosuch not found.")
			return nil
		})
		if cacheExists(t, s, S1, kind, "c1") {
			t.Errorf("a failed CreateCache left its %s behind", kind)
		}
	}
	g := findGroup(t, s, S1, "g1")
	if g.Attached() {
		t.Errorf("g1 attached to %q and %q after failed CreateCaches", g.ReplicationGroups, g.ServerlessCaches)
	}
	diff(t, "FindAllCaches", []*keyward.Cache{}, findAllCaches(t, s))
}

func testFindCacheByIDErrNotFound(t *testing.T, s keyward.Store) {
	createCache(t, s, NewCache(S1, keyward.KindReplicationGroup, "rg"))
	createCache(t, s, NewCache(S1, keyward.KindServerless, "sc"))
	for _, tt := range []struct {
		sc   keyward.Scope
		kind keyward.CacheKind
		id   string
	}{
		{S1, keyward.KindReplicationGroup, "nosuch"},
		{S1, keyward.KindServerless, "nosuch"},
		{S1, keyward.KindReplicationGroup, "sc"}, // the other kind's id
		{S1, keyward.KindServerless, "rg"},
		{S2, keyward.KindReplicationGroup, "rg"}, // another scope
		{S3, keyward.KindServerless, "sc"},
	} {
		err := s.View(ctx(t), func(tx keyward.Tx) error {
			_, err := tx.FindCacheByID(ctx(t), tt.sc, tt.kind, tt.id)
			return err
		})
		wantError(t, err, keyward.ENOTFOUND, tt.kind.Resource(), noun(tt.kind)+" "+tt.id+" not found.")
	}
}

func testUpdateCache(t *testing.T, s keyward.Store) {
	createGroups(t, s, S1, "g1", "g2", "g3")
	createCache(t, s, NewCache(S1, keyward.KindReplicationGroup, "c1", "g1", "g2"))
	other := NewCache(S1, keyward.KindServerless, "c1", "g1")
	createCache(t, s, other)

	want := &keyward.Cache{
		Kind: keyward.KindReplicationGroup, Scope: S1, ID: "c1", Description: "changed",
		Engine: keyward.EngineValkey, EngineVersion: "8.0", CacheNodeType: "cache.r7g.large",
		Status: keyward.CacheModifying, StatusSince: T0.Add(time.Minute + 1), Generation: 7,
		CreatedAt: T0.Add(-time.Hour + 3), NumNodes: 3, TransitEncryption: false,
		AuthTokenHashes: []string{"h2", "h1"}, AuthTokenOptional: true, AuthTokenLastModified: T0.Add(9),
		UserGroupIDs: []string{"g3", "g2"}, PendingUserGroupsAdd: []string{"g1"}, PendingUserGroupsRemove: []string{"g3"},
		Nodes: []keyward.CacheNode{
			{ClusterID: "c1-002", Role: "primary", Port: 7101},
			{ClusterID: "c1-001", Role: "replica", Port: 7100},
			{ClusterID: "c1-003", Role: "replica", Port: 0},
		},
		FailureMessage: "failed once", AppliedACL: "acl-2", AppliedDefaultUser: "mydefault",
	}
	update(t, s, func(tx keyward.Tx) error { return tx.UpdateCache(ctx(t), want) })
	got := want.Clone()
	got.UserGroupIDs = []string{"g2", "g3"}
	diff(t, "updated cache", got, findCache(t, s, S1, want.Kind, "c1"))
	wantOther := other.Clone()
	wantOther.UserGroupIDs = []string{"g1"}
	diff(t, "same id of the other kind", wantOther, findCache(t, s, S1, keyward.KindServerless, "c1"))
	for id, rgs := range map[string][]string{"g1": nil, "g2": {"c1"}, "g3": {"c1"}} {
		g := findGroup(t, s, S1, id)
		diff(t, id+" ReplicationGroups", rgs, g.ReplicationGroups)
		diff(t, id+" ServerlessCaches", map[string][]string{"g1": {"c1"}}[id], g.ServerlessCaches)
	}

	// No groups detaches the cache from every group.
	want.UserGroupIDs = nil
	update(t, s, func(tx keyward.Tx) error { return tx.UpdateCache(ctx(t), want) })
	diff(t, "detached cache", want, findCache(t, s, S1, want.Kind, "c1"))
	for _, id := range []string{"g2", "g3"} {
		diff(t, id+" ReplicationGroups after detach", []string(nil), findGroup(t, s, S1, id).ReplicationGroups)
	}
	diff(t, "g1 ServerlessCaches after detach", []string{"c1"}, findGroup(t, s, S1, "g1").ServerlessCaches)
}

func testUpdateCacheErrNotFound(t *testing.T, s keyward.Store) {
	createCache(t, s, NewCache(S1, keyward.KindReplicationGroup, "rg"))
	for _, c := range []*keyward.Cache{
		NewCache(S1, keyward.KindReplicationGroup, "nosuch"),
		NewCache(S1, keyward.KindServerless, "nosuch"),
		NewCache(S1, keyward.KindServerless, "rg"),       // the other kind's id
		NewCache(S2, keyward.KindReplicationGroup, "rg"), // another scope
	} {
		err := s.Update(ctx(t), func(tx keyward.Tx) error { return tx.UpdateCache(ctx(t), c) })
		wantError(t, err, keyward.ENOTFOUND, c.Kind.Resource(), noun(c.Kind)+" "+c.ID+" not found.")
		if cacheExists(t, s, c.Scope, c.Kind, c.ID) {
			t.Errorf("UpdateCache of a missing %s %s in %v created it", c.Kind, c.ID, c.Scope)
		}
	}
	diff(t, "FindAllCaches", []string{"rg"}, ids(findAllCaches(t, s)))
}

func testUpdateCacheErrUnknownGroup(t *testing.T, s keyward.Store) {
	createGroups(t, s, S1, "g1", "g2")
	for _, kind := range kinds {
		before := NewCache(S1, kind, "c1", "g1")
		createCache(t, s, before)
		update(t, s, func(tx keyward.Tx) error {
			c := NewCache(S1, kind, "c1", "g2", "nosuch")
			c.Generation, c.Description = 2, "changed"
			err := tx.UpdateCache(ctx(t), c)
			wantError(t, err, keyward.ENOTFOUND, keyward.ResourceUserGroup, "User group nosuch not found.")
			return nil // commit anyway: the failed call must have changed nothing
		})
		diff(t, string(kind)+" after a failed UpdateCache", before, findCache(t, s, S1, kind, "c1"))
	}
	g1, g2 := findGroup(t, s, S1, "g1"), findGroup(t, s, S1, "g2")
	diff(t, "g1 ReplicationGroups", []string{"c1"}, g1.ReplicationGroups)
	diff(t, "g1 ServerlessCaches", []string{"c1"}, g1.ServerlessCaches)
	if g2.Attached() {
		t.Errorf("g2 attached to %q and %q after failed UpdateCaches", g2.ReplicationGroups, g2.ServerlessCaches)
	}
}

func testDeleteCache(t *testing.T, s keyward.Store) {
	createGroups(t, s, S1, "g1")
	createGroups(t, s, S2, "g1")
	createCache(t, s, NewCache(S1, keyward.KindReplicationGroup, "c1", "g1"))
	createCache(t, s, NewCache(S1, keyward.KindReplicationGroup, "c2", "g1"))
	createCache(t, s, NewCache(S1, keyward.KindServerless, "c1", "g1"))
	createCache(t, s, NewCache(S2, keyward.KindReplicationGroup, "c1", "g1"))
	tagged := []struct {
		sc keyward.Scope
		r  keyward.ResourceRef
	}{
		{S1, cacheRef(keyward.KindReplicationGroup, "c1")},
		{S1, cacheRef(keyward.KindReplicationGroup, "c2")},
		{S1, cacheRef(keyward.KindServerless, "c1")},
		{S2, cacheRef(keyward.KindReplicationGroup, "c1")},
		{S1, keyward.ResourceRef{Type: keyward.ARNUserGroup, ID: "c1"}},
		{S1, keyward.ResourceRef{Type: keyward.ARNCluster, ID: "c1"}},
	}
	for _, tg := range tagged {
		replaceTags(t, s, tg.sc, tg.r, tagList("k", string(tg.r.Type)))
	}

	update(t, s, func(tx keyward.Tx) error { return tx.DeleteCache(ctx(t), S1, keyward.KindReplicationGroup, "c1") })
	if cacheExists(t, s, S1, keyward.KindReplicationGroup, "c1") {
		t.Error("c1 still exists after DeleteCache")
	}
	diff(t, "remaining replication groups", []string{"c2"}, ids(findCaches(t, s, S1, keyward.KindReplicationGroup, keyward.CacheFilter{})))
	diff(t, "serverless cache c1 groups", []string{"g1"}, findCache(t, s, S1, keyward.KindServerless, "c1").UserGroupIDs)
	diff(t, "S2 c1 groups", []string{"g1"}, findCache(t, s, S2, keyward.KindReplicationGroup, "c1").UserGroupIDs)
	g := findGroup(t, s, S1, "g1")
	diff(t, "g1 ReplicationGroups", []string{"c2"}, g.ReplicationGroups)
	diff(t, "g1 ServerlessCaches", []string{"c1"}, g.ServerlessCaches)
	diff(t, "S2 g1 ReplicationGroups", []string{"c1"}, findGroup(t, s, S2, "g1").ReplicationGroups)
	diff(t, "deleted cache's tags", []keyward.Tag(nil), findTags(t, s, S1, tagged[0].r))
	for _, tg := range tagged[1:] {
		diff(t, "tags of "+string(tg.r.Type)+" "+tg.r.ID, tagList("k", string(tg.r.Type)), findTags(t, s, tg.sc, tg.r))
	}

	// Deleting the serverless cache leaves the group unattached in S1.
	update(t, s, func(tx keyward.Tx) error { return tx.DeleteCache(ctx(t), S1, keyward.KindServerless, "c1") })
	diff(t, "g1 ServerlessCaches after delete", []string(nil), findGroup(t, s, S1, "g1").ServerlessCaches)
	diff(t, "deleted serverless cache's tags", []keyward.Tag(nil), findTags(t, s, S1, tagged[2].r))

	// A cache created again with the same id starts unattached and untagged.
	createCache(t, s, NewCache(S1, keyward.KindReplicationGroup, "c1"))
	diff(t, "recreated c1 groups", []string(nil), findCache(t, s, S1, keyward.KindReplicationGroup, "c1").UserGroupIDs)
	diff(t, "recreated c1 tags", []keyward.Tag(nil), findTags(t, s, S1, tagged[0].r))
	diff(t, "g1 ReplicationGroups after recreate", []string{"c2"}, findGroup(t, s, S1, "g1").ReplicationGroups)
}

func testDeleteCacheErrNotFound(t *testing.T, s keyward.Store) {
	createCache(t, s, NewCache(S1, keyward.KindReplicationGroup, "rg"))
	for _, tt := range []struct {
		sc   keyward.Scope
		kind keyward.CacheKind
		id   string
	}{
		{S1, keyward.KindReplicationGroup, "nosuch"},
		{S1, keyward.KindServerless, "nosuch"},
		{S1, keyward.KindServerless, "rg"},
		{S3, keyward.KindReplicationGroup, "rg"},
	} {
		err := s.Update(ctx(t), func(tx keyward.Tx) error { return tx.DeleteCache(ctx(t), tt.sc, tt.kind, tt.id) })
		wantError(t, err, keyward.ENOTFOUND, tt.kind.Resource(), noun(tt.kind)+" "+tt.id+" not found.")
	}
	if !cacheExists(t, s, S1, keyward.KindReplicationGroup, "rg") {
		t.Error("a DeleteCache of another kind or scope deleted rg")
	}
}

func testFindCaches(t *testing.T, s keyward.Store) {
	update(t, s, func(tx keyward.Tx) error {
		for _, id := range []string{"c3", "c1", "c5", "c2", "c4"} {
			if err := tx.CreateCache(ctx(t), NewCache(S1, keyward.KindReplicationGroup, id)); err != nil {
				return err
			}
		}
		// Noise no filter may return: the other kind, other scopes.
		for _, c := range []*keyward.Cache{
			NewCache(S1, keyward.KindServerless, "c0"), NewCache(S1, keyward.KindServerless, "c2"),
			NewCache(S1, keyward.KindServerless, "c6"),
			NewCache(S2, keyward.KindReplicationGroup, "c0"), NewCache(S3, keyward.KindReplicationGroup, "c2"),
		} {
			if err := tx.CreateCache(ctx(t), c); err != nil {
				return err
			}
		}
		return nil
	})
	for _, tt := range []struct {
		name string
		f    keyward.CacheFilter
		want []string
	}{
		{"All", keyward.CacheFilter{}, []string{"c1", "c2", "c3", "c4", "c5"}},
		{"ID", keyward.CacheFilter{ID: "c4"}, []string{"c4"}},
		{"IDMissing", keyward.CacheFilter{ID: "c0"}, []string{}},
		{"IDOfOtherKind", keyward.CacheFilter{ID: "c6"}, []string{}},
		{"AfterID", keyward.CacheFilter{AfterID: "c3"}, []string{"c4", "c5"}},
		{"AfterIDNotStored", keyward.CacheFilter{AfterID: "c25"}, []string{"c3", "c4", "c5"}},
		{"Limit", keyward.CacheFilter{Limit: 2}, []string{"c1", "c2"}},
		{"AfterIDAndLimit", keyward.CacheFilter{AfterID: "c2", Limit: 2}, []string{"c3", "c4"}},
		{"IDAndAfterID", keyward.CacheFilter{ID: "c2", AfterID: "c2"}, []string{}},
		{"AfterLast", keyward.CacheFilter{AfterID: "c5"}, []string{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			diff(t, "ids", tt.want, ids(findCaches(t, s, S1, keyward.KindReplicationGroup, tt.f)))
		})
	}
	diff(t, "serverless ids", []string{"c0", "c2", "c6"}, ids(findCaches(t, s, S1, keyward.KindServerless, keyward.CacheFilter{})))
	for _, c := range findCaches(t, s, S1, keyward.KindServerless, keyward.CacheFilter{}) {
		if c.Kind != keyward.KindServerless || c.Scope != S1 {
			t.Errorf("serverless cache %s read back with kind %q and scope %v", c.ID, c.Kind, c.Scope)
		}
	}

	var got []string
	for after := ""; ; {
		cs := findCaches(t, s, S1, keyward.KindReplicationGroup, keyward.CacheFilter{AfterID: after, Limit: 2})
		if len(cs) == 0 || len(got) > 5 {
			break
		}
		got = append(got, ids(cs)...)
		after = cs[len(cs)-1].ID
	}
	diff(t, "paged ids", []string{"c1", "c2", "c3", "c4", "c5"}, got)
}

func testFindAllCaches(t *testing.T, s keyward.Store) {
	diff(t, "FindAllCaches of an empty store", []*keyward.Cache{}, findAllCaches(t, s))
	createGroups(t, s, S1, "g1", "g2")
	createGroups(t, s, S3, "g1")
	var want []*keyward.Cache
	for _, c := range []*keyward.Cache{
		NewCache(S1, keyward.KindReplicationGroup, "b", "g2", "g1"),
		NewCache(S1, keyward.KindReplicationGroup, "a"),
		NewCache(S1, keyward.KindServerless, "a", "g2"),
		NewCache(S2, keyward.KindReplicationGroup, "a"),
		fullCache(S3, keyward.KindServerless, "z", "g1"),
	} {
		c.Status = keyward.CacheCreateFailed // every status is returned
		createCache(t, s, c)
		w := c.Clone()
		slices.Sort(w.UserGroupIDs)
		want = append(want, w)
	}
	diff(t, "FindAllCaches", sortCaches(want), findAllCaches(t, s))

	update(t, s, func(tx keyward.Tx) error { return tx.DeleteCache(ctx(t), S1, keyward.KindServerless, "a") })
	diff(t, "FindAllCaches after a delete", sortCaches(slices.Delete(want, 2, 3)), findAllCaches(t, s))
}

func testAttachmentsDerived(t *testing.T, s keyward.Store) {
	createGroups(t, s, S1, "ga", "gb", "gc")
	createCache(t, s, NewCache(S1, keyward.KindReplicationGroup, "r1", "gb", "ga"))
	createCache(t, s, NewCache(S1, keyward.KindReplicationGroup, "r2", "gb"))
	createCache(t, s, NewCache(S1, keyward.KindServerless, "s1", "gb"))
	createCache(t, s, NewCache(S1, keyward.KindServerless, "r1", "ga")) // same id, other kind
	createCache(t, s, NewCache(S1, keyward.KindServerless, "s0"))

	type sides struct{ rgs, scs []string }
	wantGroups := map[string]sides{
		"ga": {[]string{"r1"}, []string{"r1"}},
		"gb": {[]string{"r1", "r2"}, []string{"s1"}},
		"gc": {},
	}
	check := func(how string, g *keyward.UserGroup) {
		t.Helper()
		want := wantGroups[g.ID]
		diff(t, g.ID+" ReplicationGroups ("+how+")", want.rgs, g.ReplicationGroups)
		diff(t, g.ID+" ServerlessCaches ("+how+")", want.scs, g.ServerlessCaches)
		if g.Attached() != (g.ID != "gc") {
			t.Errorf("%s Attached() = %v (%s)", g.ID, g.Attached(), how)
		}
	}
	for id := range wantGroups {
		check("FindUserGroupByID", findGroup(t, s, S1, id))
	}
	for _, g := range findGroups(t, s, S1, keyward.UserGroupFilter{}) {
		check("FindUserGroups", g)
	}

	wantCaches := map[keyward.CacheKind]map[string][]string{
		keyward.KindReplicationGroup: {"r1": {"ga", "gb"}, "r2": {"gb"}},
		keyward.KindServerless:       {"r1": {"ga"}, "s1": {"gb"}, "s0": nil},
	}
	for kind, m := range wantCaches {
		for id, want := range m {
			diff(t, string(kind)+" "+id+" UserGroupIDs (FindCacheByID)", want, findCache(t, s, S1, kind, id).UserGroupIDs)
		}
		for _, c := range findCaches(t, s, S1, kind, keyward.CacheFilter{}) {
			diff(t, string(kind)+" "+c.ID+" UserGroupIDs (FindCaches)", m[c.ID], c.UserGroupIDs)
		}
	}
	for _, c := range findAllCaches(t, s) {
		diff(t, string(c.Kind)+" "+c.ID+" UserGroupIDs (FindAllCaches)", wantCaches[c.Kind][c.ID], c.UserGroupIDs)
	}
}

func testAttachmentsRestrictGroupDelete(t *testing.T, s keyward.Store) {
	createGroups(t, s, S1, "ga", "gb")
	createGroups(t, s, S2, "ga")
	createCache(t, s, NewCache(S1, keyward.KindReplicationGroup, "c1", "ga", "gb"))
	createCache(t, s, NewCache(S1, keyward.KindServerless, "c1", "ga"))
	createCache(t, s, NewCache(S2, keyward.KindReplicationGroup, "c1", "ga"))

	// A group attached to a cache cannot be deleted, whatever the caller
	// checked: the store refuses inside the transaction and changes nothing.
	err := s.Update(ctx(t), func(tx keyward.Tx) error { return tx.DeleteUserGroup(ctx(t), S1, "ga") })
	wantError(t, err, keyward.EREFERENCED, keyward.ResourceUserGroup, "User group ga is in use by Replication group c1.")
	diff(t, "replication group groups", []string{"ga", "gb"}, findCache(t, s, S1, keyward.KindReplicationGroup, "c1").UserGroupIDs)

	// Once every cache let go of it (a detach, or the cache's deletion) it can.
	c := findCache(t, s, S1, keyward.KindReplicationGroup, "c1")
	c.UserGroupIDs = []string{"gb"}
	update(t, s, func(tx keyward.Tx) error { return tx.UpdateCache(ctx(t), c) })
	update(t, s, func(tx keyward.Tx) error { return tx.DeleteCache(ctx(t), S1, keyward.KindServerless, "c1") })
	update(t, s, func(tx keyward.Tx) error { return tx.DeleteUserGroup(ctx(t), S1, "ga") })
	diff(t, "S2 cache groups", []string{"ga"}, findCache(t, s, S2, keyward.KindReplicationGroup, "c1").UserGroupIDs)

	createGroups(t, s, S1, "ga")
	g := findGroup(t, s, S1, "ga")
	if g.Attached() {
		t.Errorf("recreated ga attached to %q and %q", g.ReplicationGroups, g.ServerlessCaches)
	}
}

func testCacheIsolation(t *testing.T, s keyward.Store) {
	createGroups(t, s, S1, "g1")
	createGroups(t, s, S2, "g1")
	type key struct {
		sc   keyward.Scope
		kind keyward.CacheKind
	}
	all := []key{
		{S1, keyward.KindReplicationGroup}, {S1, keyward.KindServerless},
		{S2, keyward.KindReplicationGroup}, {S2, keyward.KindServerless},
		{S3, keyward.KindReplicationGroup},
	}
	want := map[key]*keyward.Cache{}
	for _, k := range all { // no EEXISTS across scopes and kinds
		c := NewCache(k.sc, k.kind, "c1")
		if k.sc != S3 {
			c.UserGroupIDs = []string{"g1"}
		}
		createCache(t, s, c)
		want[k] = c
	}
	check := func(when string) {
		t.Helper()
		for _, k := range all {
			if want[k] == nil {
				if cacheExists(t, s, k.sc, k.kind, "c1") {
					t.Errorf("%s: %s c1 in %v exists", when, k.kind, k.sc)
				}
				continue
			}
			got := findCache(t, s, k.sc, k.kind, "c1")
			diff(t, when+": "+string(k.kind)+" in "+k.sc.Region+"/"+k.sc.Account, want[k], got)
		}
	}
	check("created")

	c := findCache(t, s, S1, keyward.KindServerless, "c1")
	c.Description, c.Generation, c.UserGroupIDs = "changed", 2, nil
	update(t, s, func(tx keyward.Tx) error { return tx.UpdateCache(ctx(t), c) })
	want[key{S1, keyward.KindServerless}] = c
	check("after an update")
	diff(t, "S1 g1 ServerlessCaches", []string(nil), findGroup(t, s, S1, "g1").ServerlessCaches)
	diff(t, "S2 g1 ServerlessCaches", []string{"c1"}, findGroup(t, s, S2, "g1").ServerlessCaches)

	update(t, s, func(tx keyward.Tx) error { return tx.DeleteCache(ctx(t), S2, keyward.KindReplicationGroup, "c1") })
	want[key{S2, keyward.KindReplicationGroup}] = nil
	check("after a delete")
	diff(t, "S1 g1 ReplicationGroups", []string{"c1"}, findGroup(t, s, S1, "g1").ReplicationGroups)

	// An attached group must exist in the cache's own scope.
	err := s.Update(ctx(t), func(tx keyward.Tx) error {
		return tx.CreateCache(ctx(t), NewCache(S3, keyward.KindServerless, "c1", "g1"))
	})
	wantError(t, err, keyward.ENOTFOUND, keyward.ResourceUserGroup, "User group g1 not found.")
}

func testFindUnsettledCaches(t *testing.T, s keyward.Store) {
	createUsers(t, s, S1, "settled")
	update(t, s, func(tx keyward.Tx) error {
		for _, c := range []struct {
			sc     keyward.Scope
			kind   keyward.CacheKind
			id     string
			status keyward.CacheStatus
		}{
			{S1, keyward.KindReplicationGroup, "a", keyward.CacheAvailable},
			{S1, keyward.KindReplicationGroup, "b", keyward.CacheCreating},
			{S1, keyward.KindServerless, "b", keyward.CacheModifying},
			{S1, keyward.KindServerless, "f", keyward.CacheCreateFailed},
			{S2, keyward.KindReplicationGroup, "b", keyward.CacheDeleting},
			{S2, keyward.KindReplicationGroup, "f", keyward.CacheCreateFailed},
			{S3, keyward.KindServerless, "a", keyward.CacheAvailable},
			{S3, keyward.KindServerless, "d", keyward.CacheDeleting},
		} {
			nc := NewCache(c.sc, c.kind, c.id)
			nc.Status = c.status
			if err := tx.CreateCache(ctx(t), nc); err != nil {
				return err
			}
		}
		return nil
	})
	want := []keyward.Key{
		{Resource: keyward.ResourceReplicationGroup, Scope: S1, ID: "b"},
		{Resource: keyward.ResourceServerlessCache, Scope: S1, ID: "b"},
		{Resource: keyward.ResourceReplicationGroup, Scope: S2, ID: "b"},
		{Resource: keyward.ResourceServerlessCache, Scope: S3, ID: "d"},
	}
	unsettled := func() []keyward.Key {
		var got []keyward.Key
		view(t, s, func(tx keyward.Tx) (err error) {
			got, err = tx.FindUnsettled(ctx(t))
			return err
		})
		return sortedKeys(got)
	}
	diff(t, "FindUnsettled", sortedKeys(want), unsettled())

	// Settling a cache, or deleting it, takes it off the list; a cache
	// leaving its resting state goes on it.
	c := findCache(t, s, S1, keyward.KindServerless, "b")
	c.Status = keyward.CacheAvailable
	a := findCache(t, s, S1, keyward.KindReplicationGroup, "a")
	a.Status = keyward.CacheModifying
	update(t, s, func(tx keyward.Tx) error {
		if err := tx.UpdateCache(ctx(t), c); err != nil {
			return err
		}
		if err := tx.UpdateCache(ctx(t), a); err != nil {
			return err
		}
		return tx.DeleteCache(ctx(t), S3, keyward.KindServerless, "d")
	})
	want = []keyward.Key{
		{Resource: keyward.ResourceReplicationGroup, Scope: S1, ID: "a"},
		{Resource: keyward.ResourceReplicationGroup, Scope: S1, ID: "b"},
		{Resource: keyward.ResourceReplicationGroup, Scope: S2, ID: "b"},
	}
	diff(t, "FindUnsettled after settling", sortedKeys(want), unsettled())
}

func testCacheRollbackOnError(t *testing.T, s keyward.Store) {
	createGroups(t, s, S1, "g1", "g2")
	before := NewCache(S1, keyward.KindReplicationGroup, "c1", "g1")
	createCache(t, s, before)
	createCache(t, s, NewCache(S1, keyward.KindServerless, "c2", "g1"))
	replaceTags(t, s, S1, cacheRef(keyward.KindServerless, "c2"), tagList("k", "v"))

	err := s.Update(ctx(t), func(tx keyward.Tx) error {
		if err := tx.CreateCache(ctx(t), NewCache(S1, keyward.KindReplicationGroup, "c3", "g2")); err != nil {
			return err
		}
		c := NewCache(S1, keyward.KindReplicationGroup, "c1", "g2")
		c.Generation = 2
		if err := tx.UpdateCache(ctx(t), c); err != nil {
			return err
		}
		if err := tx.DeleteCache(ctx(t), S1, keyward.KindServerless, "c2"); err != nil {
			return err
		}
		// The transaction reads its own writes.
		if _, err := tx.FindCacheByID(ctx(t), S1, keyward.KindServerless, "c2"); keyward.ErrorCode(err) != keyward.ENOTFOUND {
			t.Errorf("FindCacheByID of a cache deleted in the transaction: %v, want ENOTFOUND", err)
		}
		g, err := tx.FindUserGroupByID(ctx(t), S1, "g2")
		if err != nil {
			return err
		}
		diff(t, "g2 ReplicationGroups inside the transaction", []string{"c1", "c3"}, g.ReplicationGroups)
		return errBoom
	})
	if err != errBoom {
		t.Fatalf("Update = %v, want the callback's error as it is", err)
	}
	if cacheExists(t, s, S1, keyward.KindReplicationGroup, "c3") {
		t.Error("c3 exists after a rolled-back Update")
	}
	before.UserGroupIDs = []string{"g1"}
	diff(t, "c1 after rollback", before, findCache(t, s, S1, keyward.KindReplicationGroup, "c1"))
	diff(t, "c2 groups after rollback", []string{"g1"}, findCache(t, s, S1, keyward.KindServerless, "c2").UserGroupIDs)
	diff(t, "c2 tags after rollback", tagList("k", "v"), findTags(t, s, S1, cacheRef(keyward.KindServerless, "c2")))
	if g := findGroup(t, s, S1, "g2"); g.Attached() {
		t.Errorf("g2 attached to %q and %q after a rolled-back Update", g.ReplicationGroups, g.ServerlessCaches)
	}
}

func testCacheCopies(t *testing.T, s keyward.Store) {
	createGroups(t, s, S1, "g1", "g2")
	c := fullCache(S1, keyward.KindReplicationGroup, "c1", "g1", "g2")
	want := c.Clone()
	update(t, s, func(tx keyward.Tx) error {
		if err := tx.CreateCache(ctx(t), c); err != nil {
			return err
		}
		// Values passed in are not retained.
		c.Description, c.Nodes[0].Port, c.AuthTokenHashes[0] = "x", 1, "x"
		c.UserGroupIDs[0], c.PendingUserGroupsAdd[0], c.PendingUserGroupsRemove[0] = "x", "x", "x"
		return nil
	})
	diff(t, "cache after mutating what was passed in", want, findCache(t, s, S1, c.Kind, "c1"))

	// Values returned are the caller's.
	update(t, s, func(tx keyward.Tx) error {
		got, err := tx.FindCacheByID(ctx(t), S1, c.Kind, "c1")
		if err != nil {
			return err
		}
		got.Nodes[0].Port, got.Nodes[1].Role, got.AuthTokenHashes[0] = 1, "x", "x"
		got.UserGroupIDs[0], got.PendingUserGroupsAdd[0] = "x", "x"
		got.UserGroupIDs = append(got.UserGroupIDs, "y")
		cs, err := tx.FindCaches(ctx(t), S1, c.Kind, keyward.CacheFilter{})
		if err != nil {
			return err
		}
		cs[0].ID, cs[0].Nodes[0].ClusterID = "other", "x"
		all, err := tx.FindAllCaches(ctx(t))
		if err != nil {
			return err
		}
		all[0].Status, all[0].UserGroupIDs[1] = keyward.CacheDeleting, "x"
		again, err := tx.FindCacheByID(ctx(t), S1, c.Kind, "c1")
		if err != nil {
			return err
		}
		diff(t, "cache re-read in the transaction", want, again)
		return nil
	})
	diff(t, "cache after mutating what was returned", want, findCache(t, s, S1, c.Kind, "c1"))
}

func testCacheTimeRoundTrip(t *testing.T, s keyward.Store) {
	times := []time.Time{
		T0,
		time.Date(2024, 2, 29, 23, 59, 59, 999999999, time.UTC),
		time.Date(2030, 1, 1, 0, 0, 0, 1, time.FixedZone("Y", -8*3600)),
		time.Now(),
	}
	for i, tm := range times {
		c := NewCache(S1, kinds[i%2], "c"+string(rune('a'+i)))
		c.StatusSince, c.CreatedAt, c.AuthTokenLastModified = tm, tm.Add(-time.Nanosecond), tm.Add(time.Nanosecond)
		createCache(t, s, c)
		got := findCache(t, s, c.Scope, c.Kind, c.ID)
		for _, tt := range []struct {
			what      string
			got, want time.Time
		}{
			{"StatusSince", got.StatusSince, c.StatusSince},
			{"CreatedAt", got.CreatedAt, c.CreatedAt},
			{"AuthTokenLastModified", got.AuthTokenLastModified, c.AuthTokenLastModified},
		} {
			if !tt.got.Equal(tt.want) {
				t.Errorf("%s %s %s = %v, want %v", c.Kind, c.ID, tt.what, tt.got, tt.want)
			}
		}
	}
}

func testUserLeavingGroups(t *testing.T, s keyward.Store) {
	// LeavingGroups is a plain list, kept in its order, and independent of
	// the membership relation: the groups it names need not exist.
	u := NewUser(S1, "alice")
	u.Status, u.LeavingGroups = keyward.UserDeleting, []string{"g2", "g1"}
	update(t, s, func(tx keyward.Tx) error { return tx.CreateUser(ctx(t), u) })
	diff(t, "created user", u, findUser(t, s, S1, "alice"))
	diff(t, "FindUsers", []*keyward.User{u}, findUsers(t, s, S1, keyward.UserFilter{}))

	update(t, s, func(tx keyward.Tx) error {
		got, err := tx.FindUserByID(ctx(t), S1, "alice")
		if err != nil {
			return err
		}
		got.LeavingGroups[0] = "x" // a returned copy
		again, err := tx.FindUserByID(ctx(t), S1, "alice")
		if err != nil {
			return err
		}
		diff(t, "LeavingGroups re-read", []string{"g2", "g1"}, again.LeavingGroups)
		u.LeavingGroups = []string{"g3"}
		if err := tx.UpdateUser(ctx(t), u); err != nil {
			return err
		}
		u.LeavingGroups[0] = "x" // not retained
		return nil
	})
	diff(t, "updated LeavingGroups", []string{"g3"}, findUser(t, s, S1, "alice").LeavingGroups)

	u.LeavingGroups = nil
	update(t, s, func(tx keyward.Tx) error { return tx.UpdateUser(ctx(t), u) })
	diff(t, "emptied LeavingGroups", []string(nil), findUser(t, s, S1, "alice").LeavingGroups)
}
