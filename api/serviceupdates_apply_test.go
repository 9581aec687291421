package api_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"

	"keyward/internal/redistest"
	"keyward/keywardtest"
)

func updateActionOf(t *testing.T, c *elasticache.Client, rg, name string) types.UpdateAction {
	t.Helper()
	out, err := c.DescribeUpdateActions(context.Background(), &elasticache.DescribeUpdateActionsInput{
		ReplicationGroupIds: []string{rg}, ServiceUpdateName: aws.String(name), ShowNodeLevelUpdateStatus: aws.Bool(true),
	})
	if err != nil || len(out.UpdateActions) != 1 {
		t.Fatalf("DescribeUpdateActions(%s, %s): %v %v", rg, name, out, err)
	}
	return out.UpdateActions[0]
}

// TestBatchApplyUpdateAction_RollingRestart: applying a service update
// restarts every node of the group for real (new run_id), replicas first
// and the primary last, one at a time, with the update-action and node
// statuses ElastiCache shows; the group keeps its data and its ACLs. A
// second update is stopped between two nodes. Faults and unprocessed
// actions as ElastiCache answers them.
func TestBatchApplyUpdateAction_RollingRestart(t *testing.T) {
	f := newSeedFixture(t, 1, 3)
	c, ctx := f.c, t.Context()
	const rg = "seed-rg0"
	acts, err := c.DescribeUpdateActions(ctx, &elasticache.DescribeUpdateActionsInput{
		ReplicationGroupIds: []string{rg}, ServiceUpdateStatus: []types.ServiceUpdateStatus{types.ServiceUpdateStatusAvailable},
	})
	if err != nil || len(acts.UpdateActions) < 2 {
		t.Fatalf("available update actions of %s: %v %v", rg, acts, err)
	}
	first, second := aws.ToString(acts.UpdateActions[0].ServiceUpdateName), aws.ToString(acts.UpdateActions[1].ServiceUpdateName)
	if s := acts.UpdateActions[0].UpdateActionStatus; s != types.UpdateActionStatusNotApplied {
		t.Fatalf("before BatchApplyUpdateAction: %s", s)
	}

	primary := f.nodes[0].client("alice", alicePW)
	defer primary.Close()
	if err := primary.Set(ctx, "app:kept", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	var before []string
	for i := range f.nodes {
		a := adminClient(t, f.ts, fmt.Sprintf("%s-%03d", rg, i+1))
		defer a.Close()
		before = append(before, runID(t, a))
	}

	_, err = c.BatchApplyUpdateAction(ctx, &elasticache.BatchApplyUpdateActionInput{ServiceUpdateName: aws.String("elasticache-20990101-001"), ReplicationGroupIds: []string{rg}})
	keywardtest.WantError(t, err, "ServiceUpdateNotFoundFault", 404)
	_, err = c.BatchApplyUpdateAction(ctx, &elasticache.BatchApplyUpdateActionInput{ServiceUpdateName: aws.String(first)})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	_, err = c.BatchStopUpdateAction(ctx, &elasticache.BatchStopUpdateActionInput{ServiceUpdateName: aws.String("elasticache-20990101-001"), ReplicationGroupIds: []string{rg}})
	keywardtest.WantError(t, err, "ServiceUpdateNotFoundFault", 404)
	stop, err := c.BatchStopUpdateAction(ctx, &elasticache.BatchStopUpdateActionInput{ServiceUpdateName: aws.String(first), ReplicationGroupIds: []string{rg}})
	if err != nil || len(stop.ProcessedUpdateActions) != 0 || len(stop.UnprocessedUpdateActions) != 1 {
		t.Fatalf("BatchStopUpdateAction before any apply: %+v %v", stop, err)
	}

	out, err := c.BatchApplyUpdateAction(ctx, &elasticache.BatchApplyUpdateActionInput{
		ServiceUpdateName: aws.String(first), ReplicationGroupIds: []string{rg, "nope"}, CacheClusterIds: []string{"standalone"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.ProcessedUpdateActions) != 1 || aws.ToString(out.ProcessedUpdateActions[0].ReplicationGroupId) != rg ||
		out.ProcessedUpdateActions[0].UpdateActionStatus != types.UpdateActionStatusInProgress {
		t.Errorf("processed: %+v", out.ProcessedUpdateActions)
	}
	if len(out.UnprocessedUpdateActions) != 2 || aws.ToString(out.UnprocessedUpdateActions[0].ErrorType) != "ReplicationGroupNotFoundFault" ||
		aws.ToString(out.UnprocessedUpdateActions[1].CacheClusterId) != "standalone" {
		t.Errorf("unprocessed: %+v", out.UnprocessedUpdateActions)
	}

	// Watch the node statuses: never two nodes in progress at once.
	seen := map[string]bool{}
	var a types.UpdateAction
	keywardtest.Eventually(t, 60*time.Second, "update complete", func() bool {
		a = updateActionOf(t, c, rg, first)
		inProgress := 0
		for _, m := range a.NodeGroupUpdateStatus[0].NodeGroupMemberUpdateStatus {
			seen[string(m.NodeUpdateStatus)] = true
			if m.NodeUpdateStatus == types.NodeUpdateStatusInProgress {
				inProgress++
			}
		}
		if inProgress > 1 {
			t.Errorf("%d nodes in progress at once", inProgress)
		}
		seen["action:"+string(a.UpdateActionStatus)] = true
		return a.UpdateActionStatus == types.UpdateActionStatusComplete
	})
	if !seen["action:in-progress"] || !seen["waiting-to-start"] {
		t.Errorf("statuses seen: %v", seen)
	}
	if aws.ToString(a.NodesUpdated) != "3/3" {
		t.Errorf("NodesUpdated = %s", aws.ToString(a.NodesUpdated))
	}
	members := a.NodeGroupUpdateStatus[0].NodeGroupMemberUpdateStatus
	start := map[string]time.Time{}
	end := map[string]time.Time{}
	for _, m := range members {
		if m.NodeUpdateStatus != types.NodeUpdateStatusComplete || m.NodeUpdateStartDate == nil || m.NodeUpdateEndDate == nil ||
			m.NodeUpdateInitiatedBy != types.NodeUpdateInitiatedByCustomer {
			t.Fatalf("member %+v", m)
		}
		start[aws.ToString(m.CacheClusterId)], end[aws.ToString(m.CacheClusterId)] = *m.NodeUpdateStartDate, *m.NodeUpdateEndDate
	}
	p, r1, r2 := rg+"-001", rg+"-002", rg+"-003"
	if !start[r1].Before(start[p]) || !start[r2].Before(start[p]) || start[p].Before(end[r1]) || start[p].Before(end[r2]) {
		t.Errorf("not replicas first: starts %v, ends %v", start, end)
	}
	t.Logf("rolling restart: %s %v, %s %v, %s %v", r1, end[r1].Sub(start[r1]), r2, end[r2].Sub(start[r2]), p, end[p].Sub(start[p]))
	for i := range f.nodes {
		adm := adminClient(t, f.ts, fmt.Sprintf("%s-%03d", rg, i+1))
		if got := runID(t, adm); got == before[i] {
			t.Errorf("node %d did not restart", i+1)
		}
		adm.Close()
	}
	// Data and ACLs survived every restart.
	for _, n := range f.nodes {
		cl := n.client("alice", alicePW)
		keywardtest.Eventually(t, 10*time.Second, "data on "+n.addr, func() bool { return cl.Get(context.Background(), "app:kept").Val() == "1" })
		cl.Close()
		if err := n.auth("alice", "wrong-password-000"); err == nil {
			t.Errorf("wrong password accepted on %s after the update", n.addr)
		}
		if err := n.auth("default", ""); err == nil {
			t.Errorf("unauthenticated default accepted on %s after the update", n.addr)
		}
	}
	if err := primary.Set(ctx, "other", "x", 0).Err(); err == nil {
		t.Error("alice's access string no longer applies after the update")
	}

	// Applying again answers complete; stopping a complete action is refused.
	again, err := c.BatchApplyUpdateAction(ctx, &elasticache.BatchApplyUpdateActionInput{ServiceUpdateName: aws.String(first), ReplicationGroupIds: []string{rg}})
	if err != nil || len(again.ProcessedUpdateActions) != 1 || again.ProcessedUpdateActions[0].UpdateActionStatus != types.UpdateActionStatusComplete {
		t.Errorf("second apply: %+v %v", again, err)
	}
	if done, _ := c.DescribeUpdateActions(ctx, &elasticache.DescribeUpdateActionsInput{ReplicationGroupIds: []string{rg},
		UpdateActionStatus: []types.UpdateActionStatus{types.UpdateActionStatusComplete}}); len(done.UpdateActions) != 1 {
		t.Errorf("UpdateActionStatus complete filter: %+v", done)
	}

	// The second update, stopped right after it started: the node being
	// restarted finishes, the others stay as they were.
	if _, err := c.BatchApplyUpdateAction(ctx, &elasticache.BatchApplyUpdateActionInput{ServiceUpdateName: aws.String(second), ReplicationGroupIds: []string{rg}}); err != nil {
		t.Fatal(err)
	}
	stop, err = c.BatchStopUpdateAction(ctx, &elasticache.BatchStopUpdateActionInput{ServiceUpdateName: aws.String(second), ReplicationGroupIds: []string{rg}})
	if err != nil || len(stop.ProcessedUpdateActions) != 1 || stop.ProcessedUpdateActions[0].UpdateActionStatus != types.UpdateActionStatusStopping {
		t.Fatalf("BatchStopUpdateAction: %+v %v", stop, err)
	}
	keywardtest.Eventually(t, 60*time.Second, "update stopped", func() bool {
		a = updateActionOf(t, c, rg, second)
		return a.UpdateActionStatus == types.UpdateActionStatusStopped
	})
	stopped := 0
	for _, m := range a.NodeGroupUpdateStatus[0].NodeGroupMemberUpdateStatus {
		if m.NodeUpdateStatus == types.NodeUpdateStatusStopped {
			stopped++
		}
	}
	if stopped == 0 || aws.ToString(a.NodesUpdated) == "3/3" {
		t.Errorf("stopped action: %d nodes stopped, %s updated", stopped, aws.ToString(a.NodesUpdated))
	}
	if cur := updateActionOf(t, c, rg, first); cur.UpdateActionStatus != types.UpdateActionStatusComplete {
		t.Errorf("the first update is now %s", cur.UpdateActionStatus)
	}
}

// TestBatchApplyUpdateAction_MemcachedCluster: a cache cluster's update
// action (CacheClusterIds) restarts its nodes one at a time (new
// processes), shown in CacheNodeUpdateStatus.
func TestBatchApplyUpdateAction_MemcachedCluster(t *testing.T) {
	redistest.Memcached(t)
	ts := keywardtest.New(t, keywardtest.WithDelay(50*time.Millisecond))
	c, ctx := ts.Client, t.Context()
	if _, err := c.CreateCacheCluster(ctx, &elasticache.CreateCacheClusterInput{
		CacheClusterId: aws.String("mcu"), Engine: aws.String("memcached"), NumCacheNodes: aws.Int32(2), CacheNodeType: aws.String("cache.t3.micro"),
	}); err != nil {
		t.Fatal(err)
	}
	waitCluster(t, c, "mcu")
	pid := func(nodeID string) int {
		n, ok := ts.Memcached().Node("000000000000.us-east-1.mcu." + nodeID)
		if !ok {
			t.Fatalf("engine has no node %s", nodeID)
		}
		return n.PID
	}
	before1, before2 := pid("0001"), pid("0002")
	acts, err := c.DescribeUpdateActions(ctx, &elasticache.DescribeUpdateActionsInput{CacheClusterIds: []string{"mcu"}, ShowNodeLevelUpdateStatus: aws.Bool(true),
		ServiceUpdateStatus: []types.ServiceUpdateStatus{types.ServiceUpdateStatusAvailable}})
	if err != nil || len(acts.UpdateActions) == 0 {
		t.Fatalf("update actions of mcu: %+v %v", acts, err)
	}
	a := acts.UpdateActions[0]
	name := aws.ToString(a.ServiceUpdateName)
	if aws.ToString(a.CacheClusterId) != "mcu" || a.ReplicationGroupId != nil || len(a.CacheNodeUpdateStatus) != 2 || aws.ToString(a.NodesUpdated) != "0/2" {
		t.Fatalf("action before: %+v", a)
	}
	out, err := c.BatchApplyUpdateAction(ctx, &elasticache.BatchApplyUpdateActionInput{ServiceUpdateName: aws.String(name), CacheClusterIds: []string{"mcu", "nope"}})
	if err != nil || len(out.ProcessedUpdateActions) != 1 || len(out.UnprocessedUpdateActions) != 1 ||
		aws.ToString(out.UnprocessedUpdateActions[0].ErrorType) != "CacheClusterNotFoundFault" {
		t.Fatalf("BatchApplyUpdateAction: %+v %v", out, err)
	}
	keywardtest.Eventually(t, 60*time.Second, "cluster update complete", func() bool {
		out, err := c.DescribeUpdateActions(context.Background(), &elasticache.DescribeUpdateActionsInput{CacheClusterIds: []string{"mcu"},
			ServiceUpdateName: aws.String(name), ShowNodeLevelUpdateStatus: aws.Bool(true)})
		if err != nil || len(out.UpdateActions) != 1 {
			return false
		}
		a = out.UpdateActions[0]
		return a.UpdateActionStatus == types.UpdateActionStatusComplete
	})
	n1, n2 := a.CacheNodeUpdateStatus[0], a.CacheNodeUpdateStatus[1]
	if n1.NodeUpdateStatus != types.NodeUpdateStatusComplete || n2.NodeUpdateStatus != types.NodeUpdateStatusComplete ||
		n2.NodeUpdateStartDate.Before(*n1.NodeUpdateEndDate) || aws.ToString(a.NodesUpdated) != "2/2" {
		t.Errorf("nodes after: %+v %+v (%s)", n1, n2, aws.ToString(a.NodesUpdated))
	}
	waitCluster(t, c, "mcu")
	keywardtest.Eventually(t, 10*time.Second, "new processes", func() bool {
		return pid("0001") != before1 && pid("0002") != before2 && pid("0001") > 0 && pid("0002") > 0
	})
}
