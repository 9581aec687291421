package api

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"keyward"
	"keyward/ecapi"
	"keyward/serviceupdates"
)

// Service updates come from package serviceupdates' catalogue, as released
// at the time of the request. Update actions pair each update with the
// scope's replication groups of its engine and version: not-applied until
// BatchApplyUpdateAction, which performs what ElastiCache's does, a
// rolling restart of the group's nodes, replicas first (the reconciler,
// reconcile/restarts.go), shown node by node (waiting-to-start,
// in-progress, complete) until the action is complete, or stopped by
// BatchStopUpdateAction between two nodes. Serverless caches get no
// actions, as on ElastiCache, which patches them transparently.

func updateToAPI(u serviceupdates.Update, status string) ecapi.ServiceUpdate {
	return ecapi.ServiceUpdate{
		ServiceUpdateName: ptr(u.Name), ServiceUpdateReleaseDate: ptr(u.Released), ServiceUpdateEndDate: ptr(u.End),
		ServiceUpdateSeverity: ptr(u.Severity), ServiceUpdateRecommendedApplyByDate: ptr(u.RecommendedApplyBy),
		ServiceUpdateStatus: ptr(status), ServiceUpdateDescription: ptr(u.Description), ServiceUpdateType: ptr(u.Type),
		Engine: ptr(u.Engine), EngineVersion: ptr(u.EngineVersion), AutoUpdateAfterRecommendedApplyByDate: ptr(u.AutoUpdate),
		EstimatedUpdateTime: ptr(u.EstimatedTime),
	}
}

// DescribeServiceUpdates lists the released updates by name, filtered by
// name (unknown: ServiceUpdateNotFoundFault) and status.
func (s *Service) DescribeServiceUpdates(ctx context.Context, in *ecapi.DescribeServiceUpdatesMessage) (*ecapi.ServiceUpdatesMessage, error) {
	out, err := s.describeServiceUpdates(ctx, in)
	return out, apiError(err)
}

func (s *Service) describeServiceUpdates(ctx context.Context, in *ecapi.DescribeServiceUpdatesMessage) (*ecapi.ServiceUpdatesMessage, error) {
	if _, err := s.scope(ctx); err != nil {
		return nil, err
	}
	page, err := parsePage(in.MaxRecords, in.Marker)
	if err != nil {
		return nil, err
	}
	now := s.now()
	name := deref(in.ServiceUpdateName)
	if name != "" {
		if u, ok := serviceupdates.ByName(name); !ok || !u.ReleasedAt(now) {
			return nil, keyward.Errorf(keyward.ENOTFOUND, keyward.ResourceServiceUpdate, "Service update %s not found.", name)
		}
	}
	out := &ecapi.ServiceUpdatesMessage{ServiceUpdates: []ecapi.ServiceUpdate{}}
	for _, u := range serviceupdates.At(now, in.ServiceUpdateStatus...) {
		if name != "" && u.Name != name || u.Name <= page.after {
			continue
		}
		if len(out.ServiceUpdates) == page.max {
			out.Marker = ptr(encodeMarker(*out.ServiceUpdates[page.max-1].ServiceUpdateName))
			break
		}
		out.ServiceUpdates = append(out.ServiceUpdates, updateToAPI(u, u.StatusAt(now)))
	}
	return out, nil
}

// DescribeUpdateActions lists the update actions of the scope's
// replication groups, ordered by service update then group.
func (s *Service) DescribeUpdateActions(ctx context.Context, in *ecapi.DescribeUpdateActionsMessage) (*ecapi.UpdateActionsMessage, error) {
	out, err := s.describeUpdateActions(ctx, in)
	return out, apiError(err)
}

func (s *Service) describeUpdateActions(ctx context.Context, in *ecapi.DescribeUpdateActionsMessage) (*ecapi.UpdateActionsMessage, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	page, err := parsePage(in.MaxRecords, in.Marker)
	if err != nil {
		return nil, err
	}
	if tr := in.ServiceUpdateTimeRange; tr != nil && tr.StartTime != nil && tr.EndTime != nil && tr.EndTime.Before(*tr.StartTime) {
		return nil, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceNone, "ServiceUpdateTimeRange EndTime must not be before StartTime.")
	}
	now := s.now()
	var caches []*keyward.Cache
	var clusters []*keyward.CacheCluster
	// Only CacheClusterIds: no replication groups; only
	// ReplicationGroupIds: no cache clusters.
	err = s.Store.View(ctx, func(tx keyward.Tx) (err error) {
		if len(in.CacheClusterIds) == 0 || len(in.ReplicationGroupIds) > 0 {
			if caches, err = tx.FindCaches(ctx, sc, keyward.KindReplicationGroup, keyward.CacheFilter{}); err != nil {
				return err
			}
		}
		if len(in.ReplicationGroupIds) == 0 || len(in.CacheClusterIds) > 0 {
			clusters, err = keyward.Clusters.Find(ctx, tx, keyward.DocQuery{Scope: sc})
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	lower := func(ids []string) []string {
		out := make([]string, len(ids))
		for i, id := range ids {
			out[i] = strings.ToLower(id)
		}
		return out
	}
	groups, clusterIDs := lower(in.ReplicationGroupIds), lower(in.CacheClusterIds)
	out := &ecapi.UpdateActionsMessage{UpdateActions: []ecapi.UpdateAction{}}
	lastKey := ""
	type item struct {
		id string
		a  ecapi.UpdateAction
	}
	for _, u := range serviceupdates.At(now) {
		status := u.StatusAt(now)
		if status == serviceupdates.StatusCancelled ||
			in.ServiceUpdateName != nil && *in.ServiceUpdateName != u.Name ||
			len(in.ServiceUpdateStatus) > 0 && !slices.Contains(in.ServiceUpdateStatus, status) ||
			in.Engine != nil && !strings.EqualFold(*in.Engine, u.Engine) {
			continue
		}
		if tr := in.ServiceUpdateTimeRange; tr != nil && (tr.StartTime != nil && u.Released.Before(*tr.StartTime) || tr.EndTime != nil && u.Released.After(*tr.EndTime)) {
			continue
		}
		var items []item
		for _, c := range caches {
			if c.Status == keyward.CacheDeleting || !u.AppliesTo(string(c.Engine), c.EngineVersion) ||
				len(groups) > 0 && !slices.Contains(groups, c.ID) {
				continue
			}
			items = append(items, item{c.ID, updateAction(u, status, c, now, deref(in.ShowNodeLevelUpdateStatus))})
		}
		for _, cl := range clusters {
			if cl.Status == keyward.ClusterDeleting || !u.AppliesTo(string(cl.Engine), cl.EngineVersion) ||
				len(clusterIDs) > 0 && !slices.Contains(clusterIDs, cl.ID) {
				continue
			}
			items = append(items, item{cl.ID, clusterUpdateAction(u, status, cl, now, deref(in.ShowNodeLevelUpdateStatus))})
		}
		slices.SortFunc(items, func(a, b item) int { return strings.Compare(a.id, b.id) })
		for _, it := range items {
			a := it.a
			if len(in.UpdateActionStatus) > 0 && !slices.Contains(in.UpdateActionStatus, *a.UpdateActionStatus) {
				continue
			}
			key := u.Name + "/" + it.id
			if key <= page.after {
				continue
			}
			if len(out.UpdateActions) == page.max {
				out.Marker = ptr(encodeMarker(lastKey))
				return out, nil
			}
			out.UpdateActions = append(out.UpdateActions, a)
			lastKey = key
		}
	}
	return out, nil
}

// updateAction is the action of update u on cache c: not-applied, or as
// the cache's record of it (keyward.CacheUpdate) shows it.
func updateAction(u serviceupdates.Update, status string, c *keyward.Cache, now time.Time, nodes bool) ecapi.UpdateAction {
	a, available := baseAction(u, status, c.CreatedAt, c.Update(u.Name), len(c.Nodes), c.Engine, now)
	a.ReplicationGroupId = ptr(c.ID)
	rec := c.Update(u.Name)
	if !nodes {
		return a
	}
	groups := map[int]*ecapi.NodeGroupUpdateStatus{}
	var order []int
	for i, n := range c.Nodes {
		shard := 0
		if c.ClusterMode {
			shard = n.Shard
		}
		ng := groups[shard]
		if ng == nil {
			id := "0001"
			if c.ClusterMode && shard < len(c.Shards) {
				id = c.Shards[shard].ID
			}
			ng = &ecapi.NodeGroupUpdateStatus{NodeGroupId: ptr(id), NodeGroupMemberUpdateStatus: []ecapi.NodeGroupMemberUpdateStatus{}}
			groups[shard] = ng
			order = append(order, shard)
		}
		m := ecapi.NodeGroupMemberUpdateStatus{
			CacheClusterId: ptr(n.ClusterID), CacheNodeId: ptr("0001"),
			NodeUpdateStatus: ptr(ecapi.NodeUpdateStatusNotApplied), NodeUpdateStatusModifiedDate: ptr(available),
		}
		if rec != nil {
			if j := slices.IndexFunc(rec.Nodes, func(nu keyward.NodeUpdate) bool { return nu.ClusterID == c.Nodes[i].ClusterID }); j >= 0 {
				nu := rec.Nodes[j]
				m.NodeUpdateStatus, m.NodeUpdateStatusModifiedDate = ptr(nu.Status), ptr(nu.Since)
				m.NodeUpdateInitiatedBy, m.NodeUpdateInitiatedDate = ptr(ecapi.NodeUpdateInitiatedByCustomer), ptr(rec.Applied)
				if !nu.Started.IsZero() {
					m.NodeUpdateStartDate = ptr(nu.Started)
				}
				if !nu.Ended.IsZero() {
					m.NodeUpdateEndDate = ptr(nu.Ended)
				}
			}
		}
		ng.NodeGroupMemberUpdateStatus = append(ng.NodeGroupMemberUpdateStatus, m)
	}
	for _, shard := range order {
		a.NodeGroupUpdateStatus = append(a.NodeGroupUpdateStatus, *groups[shard])
	}
	return a
}

// baseAction is what an update action of a replication group or a cache
// cluster created at created, with total nodes, shows; it returns the
// date the action became available too.
func baseAction(u serviceupdates.Update, status string, created time.Time, rec *keyward.CacheUpdate, total int, engine keyward.Engine, now time.Time) (ecapi.UpdateAction, time.Time) {
	available := u.Released
	if created.After(available) {
		available = created
	}
	actionStatus, modified, done := ecapi.UpdateActionStatusNotApplied, available, 0
	if rec != nil {
		actionStatus, modified = rec.Status, rec.Since
		for _, n := range rec.Nodes {
			if n.Status == keyward.UpdateComplete {
				done++
			}
		}
	}
	// SlaMet: whether it was complete by the recommended apply-by date;
	// "no" once that date passed without it.
	sla := ecapi.SlaMetNA
	switch {
	case rec != nil && rec.Status == keyward.UpdateComplete && rec.Complete.Before(u.RecommendedApplyBy):
		sla = ecapi.SlaMetYes
	case !now.Before(u.RecommendedApplyBy):
		sla = ecapi.SlaMetNo
	}
	return ecapi.UpdateAction{
		ServiceUpdateName: ptr(u.Name), ServiceUpdateReleaseDate: ptr(u.Released),
		ServiceUpdateSeverity: ptr(u.Severity), ServiceUpdateStatus: ptr(status),
		ServiceUpdateRecommendedApplyByDate: ptr(u.RecommendedApplyBy), ServiceUpdateType: ptr(u.Type),
		UpdateActionAvailableDate: ptr(available), UpdateActionStatus: ptr(actionStatus),
		NodesUpdated: ptr(fmt.Sprintf("%d/%d", done, total)), UpdateActionStatusModifiedDate: ptr(modified),
		SlaMet: ptr(sla), EstimatedUpdateTime: ptr(u.EstimatedTime), Engine: ptr(string(engine)),
	}, available
}

// clusterUpdateAction is the action of update u on cache cluster cl, its
// nodes in CacheNodeUpdateStatus.
func clusterUpdateAction(u serviceupdates.Update, status string, cl *keyward.CacheCluster, now time.Time, nodes bool) ecapi.UpdateAction {
	live := cl.LiveNodes()
	rec := cl.Update(u.Name)
	a, available := baseAction(u, status, cl.CreatedAt, rec, len(live), cl.Engine, now)
	a.CacheClusterId = ptr(cl.ID)
	if !nodes {
		return a
	}
	a.CacheNodeUpdateStatus = []ecapi.CacheNodeUpdateStatus{}
	for _, n := range live {
		m := ecapi.CacheNodeUpdateStatus{CacheNodeId: ptr(n.ID), NodeUpdateStatus: ptr(ecapi.NodeUpdateStatusNotApplied), NodeUpdateStatusModifiedDate: ptr(available)}
		if nu := updateNode(rec, n.ID); nu != nil {
			m.NodeUpdateStatus, m.NodeUpdateStatusModifiedDate = ptr(nu.Status), ptr(nu.Since)
			m.NodeUpdateInitiatedBy, m.NodeUpdateInitiatedDate = ptr(ecapi.NodeUpdateInitiatedByCustomer), ptr(rec.Applied)
			if !nu.Started.IsZero() {
				m.NodeUpdateStartDate = ptr(nu.Started)
			}
			if !nu.Ended.IsZero() {
				m.NodeUpdateEndDate = ptr(nu.Ended)
			}
		}
		a.CacheNodeUpdateStatus = append(a.CacheNodeUpdateStatus, m)
	}
	return a
}

func updateNode(rec *keyward.CacheUpdate, id string) *keyward.NodeUpdate {
	if rec == nil {
		return nil
	}
	return rec.NodeUpdate(id)
}

// BatchApplyUpdateAction applies a service update to replication groups:
// each group's nodes restart one by one, replicas first, keeping their
// data and ACLs. A group that cannot take it is listed unprocessed, with
// the fault ElastiCache would answer for it alone as ErrorType.
func (s *Service) BatchApplyUpdateAction(ctx context.Context, in *ecapi.BatchApplyUpdateActionMessage) (*ecapi.UpdateActionResultsMessage, error) {
	out, err := s.batchUpdateAction(ctx, deref(in.ServiceUpdateName), in.ReplicationGroupIds, in.CacheClusterIds, true)
	return out, apiError(err)
}

// BatchStopUpdateAction stops applying a service update: the node being
// restarted finishes, the others are left as they are (stopped).
func (s *Service) BatchStopUpdateAction(ctx context.Context, in *ecapi.BatchStopUpdateActionMessage) (*ecapi.UpdateActionResultsMessage, error) {
	out, err := s.batchUpdateAction(ctx, deref(in.ServiceUpdateName), in.ReplicationGroupIds, in.CacheClusterIds, false)
	return out, apiError(err)
}

func (s *Service) batchUpdateAction(ctx context.Context, name string, groups, clusters []string, apply bool) (*ecapi.UpdateActionResultsMessage, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	u, ok := serviceupdates.ByName(name)
	if !ok || !u.ReleasedAt(now) {
		return nil, keyward.Errorf(keyward.ENOTFOUND, keyward.ResourceServiceUpdate, "Service update %s not found.", name)
	}
	if len(groups)+len(clusters) == 0 {
		return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceNone, "At least one of ReplicationGroupIds or CacheClusterIds must be given.")
	}
	if len(groups) > 20 || len(clusters) > 20 {
		return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceNone, "At most 20 ReplicationGroupIds and 20 CacheClusterIds can be given.")
	}
	if st := u.StatusAt(now); apply && st != serviceupdates.StatusAvailable {
		return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceNone, "Service update %s is %s; it can no longer be applied.", name, st)
	}
	out := &ecapi.UpdateActionResultsMessage{ProcessedUpdateActions: []ecapi.ProcessedUpdateAction{}, UnprocessedUpdateActions: []ecapi.UnprocessedUpdateAction{}}
	var changed []keyward.Key
	err = s.Store.Update(ctx, func(tx keyward.Tx) error {
		out.ProcessedUpdateActions, out.UnprocessedUpdateActions, changed = out.ProcessedUpdateActions[:0], out.UnprocessedUpdateActions[:0], changed[:0]
		for _, raw := range groups {
			id := strings.ToLower(raw)
			skip := func(code, format string, args ...any) {
				out.UnprocessedUpdateActions = append(out.UnprocessedUpdateActions, ecapi.UnprocessedUpdateAction{
					ReplicationGroupId: ptr(raw), ServiceUpdateName: ptr(name), ErrorType: ptr(code), ErrorMessage: ptr(fmt.Sprintf(format, args...)),
				})
			}
			c, err := tx.FindCacheByID(ctx, sc, keyward.KindReplicationGroup, id)
			if keyward.ErrorCode(err) == keyward.ENOTFOUND {
				skip("ReplicationGroupNotFoundFault", "Replication group %s not found.", raw)
				continue
			} else if err != nil {
				return err
			}
			if !u.AppliesTo(string(c.Engine), c.EngineVersion) {
				skip("InvalidParameterValue", "Service update %s does not apply to replication group %s (%s %s).", name, id, c.Engine, c.EngineVersion)
				continue
			}
			status, err := s.changeUpdate(ctx, tx, c, u.Name, apply, now)
			if err != nil {
				if code := keyward.ErrorCode(err); code != keyward.EINVALID && code != keyward.ESTATE {
					return err // e.g. a conflict: the transaction is retried
				}
				skip(faultCode(err), "%s", keyward.ErrorMessage(err))
				continue
			}
			changed = append(changed, cacheKey(c))
			out.ProcessedUpdateActions = append(out.ProcessedUpdateActions, ecapi.ProcessedUpdateAction{
				ReplicationGroupId: ptr(raw), ServiceUpdateName: ptr(name), UpdateActionStatus: ptr(status),
			})
		}
		for _, raw := range clusters {
			id := strings.ToLower(raw)
			skip := func(code, format string, args ...any) {
				out.UnprocessedUpdateActions = append(out.UnprocessedUpdateActions, ecapi.UnprocessedUpdateAction{
					CacheClusterId: ptr(raw), ServiceUpdateName: ptr(name), ErrorType: ptr(code), ErrorMessage: ptr(fmt.Sprintf(format, args...)),
				})
			}
			cl, err := keyward.Clusters.Get(ctx, tx, sc, id)
			if keyward.ErrorCode(err) == keyward.ENOTFOUND {
				if rg, merr := memberOf(ctx, tx, sc, id); merr == nil {
					skip("InvalidParameterValue", "Cache cluster %s is a member of replication group %s: apply the update to the group (ReplicationGroupIds).", id, rg.ID)
				} else {
					skip("CacheClusterNotFoundFault", "Cache cluster %s not found.", raw)
				}
				continue
			} else if err != nil {
				return err
			}
			if !u.AppliesTo(string(cl.Engine), cl.EngineVersion) {
				skip("InvalidParameterValue", "Service update %s does not apply to cache cluster %s (%s %s).", name, id, cl.Engine, cl.EngineVersion)
				continue
			}
			status, err := s.changeClusterUpdate(ctx, tx, cl, u.Name, apply, now)
			if err != nil {
				if code := keyward.ErrorCode(err); code != keyward.EINVALID && code != keyward.ESTATE {
					return err
				}
				skip(faultCode(err), "%s", keyward.ErrorMessage(err))
				continue
			}
			changed = append(changed, clusterKey(cl))
			out.ProcessedUpdateActions = append(out.ProcessedUpdateActions, ecapi.ProcessedUpdateAction{
				CacheClusterId: ptr(raw), ServiceUpdateName: ptr(name), UpdateActionStatus: ptr(status),
			})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.notify(changed...)
	return out, nil
}

// changeClusterUpdate starts (apply) or stops a cache cluster's action for
// update name and returns its new status.
func (s *Service) changeClusterUpdate(ctx context.Context, tx keyward.Tx, cur *keyward.CacheCluster, name string, apply bool, now time.Time) (string, error) {
	cl := cur.Clone()
	var ids []string
	for _, n := range cl.LiveNodes() {
		ids = append(ids, n.ID)
	}
	var avail error
	if cl.Status != keyward.ClusterAvailable || slices.ContainsFunc(cl.Nodes, func(n keyward.ClusterNode) bool { return n.Reboot || n.Adding || n.Removing }) {
		avail = keyward.Errorf(keyward.ESTATE, keyward.ResourceCacheCluster, "Cache cluster %s is not in available state (it is %s).", cl.ID, cl.Status)
	}
	status, err := changeUpdates(&cl.Updates, name, ids, apply, now, avail, keyward.ResourceCacheCluster, "cache cluster "+cl.ID)
	if err == errUnchanged {
		return status, nil
	} else if err != nil {
		return "", err
	}
	cl.Generation++
	if err := keyward.Clusters.Update(ctx, tx, cl); err != nil {
		return "", err
	}
	return status, nil
}

// changeUpdates starts (apply) or stops the update called name in us, for
// nodes ids; unavailable (if not nil) refuses a start. It returns the new
// status, with err nil and the list unchanged when nothing is to be done
// (an update applied or being applied: status is its own).
func changeUpdates(us *[]keyward.CacheUpdate, name string, ids []string, apply bool, now time.Time, unavailable error, res keyward.Resource, what string) (status string, err error) {
	rec := findUpdateIn(*us, name)
	if !apply {
		if rec == nil || (rec.Status != keyward.UpdateInProgress && rec.Status != keyward.UpdateWaiting) {
			st := keyward.UpdateNotApplied
			if rec != nil {
				st = rec.Status
			}
			return "", keyward.Errorf(keyward.EINVALID, keyward.ResourceNone, "The update action %s of %s is %s; only an action in progress can be stopped.", name, what, st)
		}
		rec.Status, rec.Since = keyward.UpdateStopping, now
		return rec.Status, nil
	}
	if rec != nil && rec.Status != keyward.UpdateStopped {
		return rec.Status, errUnchanged
	}
	if unavailable != nil {
		return "", unavailable
	}
	for _, u := range *us {
		if u.Status == keyward.UpdateInProgress || u.Status == keyward.UpdateStopping || u.Status == keyward.UpdateWaiting {
			return "", keyward.Errorf(keyward.ESTATE, res, "The %s is applying service update %s.", what, u.Name)
		}
	}
	if rec == nil {
		*us = append(*us, keyward.CacheUpdate{Name: name})
		rec = &(*us)[len(*us)-1]
	}
	// A stopped action resumes: its completed nodes stay complete.
	nodes := make([]keyward.NodeUpdate, 0, len(ids))
	for _, id := range ids {
		if nu := rec.NodeUpdate(id); nu != nil && nu.Status == keyward.UpdateComplete {
			nodes = append(nodes, *nu)
			continue
		}
		nodes = append(nodes, keyward.NodeUpdate{ClusterID: id, Status: keyward.UpdateWaiting, Since: now})
	}
	rec.Nodes, rec.Status, rec.Since, rec.Applied = nodes, keyward.UpdateInProgress, now, now
	return rec.Status, nil
}

// errUnchanged: the update needs no change (changeUpdates).
var errUnchanged = errors.New("unchanged")

func findUpdateIn(us []keyward.CacheUpdate, name string) *keyward.CacheUpdate {
	for i := range us {
		if us[i].Name == name {
			return &us[i]
		}
	}
	return nil
}

// changeUpdate starts (apply) or stops the replication group's action for
// update name and returns its new status.
func (s *Service) changeUpdate(ctx context.Context, tx keyward.Tx, cur *keyward.Cache, name string, apply bool, now time.Time) (string, error) {
	c := cur.Clone()
	ids := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		ids[i] = n.ClusterID
	}
	var avail error
	switch {
	case c.Status != keyward.CacheAvailable:
		avail = keyward.Errorf(keyward.ESTATE, keyward.ResourceReplicationGroup, "Replication group %s is not in available state (it is %s).", c.ID, c.ShownStatus())
	case slices.ContainsFunc(c.Nodes, func(n keyward.CacheNode) bool { return n.Reboot || n.Port == 0 }):
		avail = keyward.Errorf(keyward.ESTATE, keyward.ResourceReplicationGroup, "Replication group %s has nodes being created or rebooted.", c.ID)
	}
	status, err := changeUpdates(&c.Updates, name, ids, apply, now, avail, keyward.ResourceReplicationGroup, "replication group "+c.ID)
	if err == errUnchanged {
		return status, nil
	} else if err != nil {
		return "", err
	}
	c.Generation++
	if err := tx.UpdateCache(ctx, c); err != nil {
		return "", err
	}
	return status, nil
}

// faultCode is the ElastiCache fault code a domain error maps to.
func faultCode(err error) string {
	if e, ok := apiError(err).(interface{ ErrorCode() string }); ok {
		return e.ErrorCode()
	}
	return "InternalFailure"
}
