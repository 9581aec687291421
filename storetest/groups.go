package storetest

import (
	"errors"
	"testing"

	"keyward"
)

// Cache parameter groups and subnet groups are Kind declarations on the
// generic layer; these tests check what the declarations add: the
// documents round-trip, and a cache's references to the user's groups
// hold them.

func testCacheGroupsRoundTrip(t *testing.T, s keyward.Store) {
	pg := &keyward.CacheParameterGroup{Scope: S1, ID: "pg1", Family: "redis7", Description: "tuned", Values: map[string]string{"timeout": "300", "notify-keyspace-events": "KEA"}}
	sg := &keyward.CacheSubnetGroup{Scope: S1, ID: "sg1", Description: "app", SubnetIDs: []string{"subnet-0a1b2c3d", "subnet-11112222"}}
	// (wantAllSet walks structs and slices, not maps: pg sets every field.)
	wantAllSet(t, "subnet group", sg)
	update(t, s, func(tx keyward.Tx) error {
		if err := keyward.CacheParameterGroups.Create(ctx(t), tx, pg); err != nil {
			return err
		}
		return keyward.CacheSubnetGroups.Create(ctx(t), tx, sg)
	})
	view(t, s, func(tx keyward.Tx) error {
		gotPG, err := keyward.CacheParameterGroups.Get(ctx(t), tx, S1, "pg1")
		if err != nil {
			return err
		}
		diff(t, "parameter group", pg, gotPG)
		gotSG, err := keyward.CacheSubnetGroups.Get(ctx(t), tx, S1, "sg1")
		if err != nil {
			return err
		}
		diff(t, "subnet group", sg, gotSG)
		bySubnet, err := keyward.CacheSubnetGroups.Find(ctx(t), tx, keyward.DocQuery{Scope: S1, Where: []keyward.Field{{Name: "subnet", Value: "subnet-11112222"}}})
		if err != nil {
			return err
		}
		diff(t, "groups by subnet", []*keyward.CacheSubnetGroup{sg}, bySubnet)
		_, err = keyward.CacheParameterGroups.Get(ctx(t), tx, S2, "pg1")
		wantError(t, err, keyward.ENOTFOUND, keyward.ResourceCacheParameterGroup, "Cache parameter group pg1 not found.")
		return nil
	})
}

func testCacheGroupsHeldByCache(t *testing.T, s keyward.Store) {
	update(t, s, func(tx keyward.Tx) error {
		if err := keyward.CacheParameterGroups.Create(ctx(t), tx, &keyward.CacheParameterGroup{Scope: S1, ID: "pg1", Family: "redis7", Description: "d"}); err != nil {
			return err
		}
		return keyward.CacheSubnetGroups.Create(ctx(t), tx, &keyward.CacheSubnetGroup{Scope: S1, ID: "sg1", Description: "d", SubnetIDs: []string{"subnet-0a1b2c3d"}})
	})
	missing := NewCache(S1, keyward.KindReplicationGroup, "c0")
	missing.Settings.CacheParameterGroupName = "nope"
	err := s.Update(ctx(t), func(tx keyward.Tx) error { return tx.CreateCache(ctx(t), missing) })
	if keyward.ErrorCode(err) != keyward.ENOTFOUND {
		t.Errorf("cache naming a missing parameter group: %v, want ENOTFOUND", err)
	}
	c := NewCache(S1, keyward.KindReplicationGroup, "c1")
	c.Settings.CacheParameterGroupName, c.Settings.CacheSubnetGroupName = "pg1", "sg1"
	createCache(t, s, c)
	builtIn := NewCache(S1, keyward.KindServerless, "c2")
	builtIn.Settings.CacheParameterGroupName, builtIn.Settings.CacheSubnetGroupName = "default.redis7", keyward.DefaultSubnetGroup
	createCache(t, s, builtIn)

	view(t, s, func(tx keyward.Tx) error {
		keys, err := keyward.CachesUsing(ctx(t), tx, S1, "pg1")
		diff(t, "caches using pg1", []keyward.Key{{Resource: keyward.ResourceReplicationGroup, Scope: S1, ID: "c1"}}, keys)
		return err
	})
	err = s.Update(ctx(t), func(tx keyward.Tx) error { return keyward.CacheParameterGroups.Delete(ctx(t), tx, S1, "pg1") })
	if keyward.ErrorCode(err) != keyward.EREFERENCED || errResource(err) != keyward.ResourceCacheParameterGroup {
		t.Errorf("delete a parameter group in use: %v", err)
	}
	err = s.Update(ctx(t), func(tx keyward.Tx) error { return keyward.CacheSubnetGroups.Delete(ctx(t), tx, S1, "sg1") })
	if keyward.ErrorCode(err) != keyward.EREFERENCED || errResource(err) != keyward.ResourceCacheSubnetGroup {
		t.Errorf("delete a subnet group in use: %v", err)
	}
	update(t, s, func(tx keyward.Tx) error { return tx.DeleteCache(ctx(t), S1, keyward.KindReplicationGroup, "c1") })
	update(t, s, func(tx keyward.Tx) error {
		if err := keyward.CacheParameterGroups.Delete(ctx(t), tx, S1, "pg1"); err != nil {
			return err
		}
		return keyward.CacheSubnetGroups.Delete(ctx(t), tx, S1, "sg1")
	})
}

func errResource(err error) keyward.Resource {
	var e *keyward.Error
	if errors.As(err, &e) {
		return e.Resource
	}
	return ""
}
