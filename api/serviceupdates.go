package api

import (
	"context"
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
	// Only CacheClusterIds: keyward has no standalone cache clusters, so
	// nothing matches.
	if len(in.CacheClusterIds) == 0 || len(in.ReplicationGroupIds) > 0 {
		err = s.Store.View(ctx, func(tx keyward.Tx) (err error) {
			caches, err = tx.FindCaches(ctx, sc, keyward.KindReplicationGroup, keyward.CacheFilter{})
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	groups := make([]string, len(in.ReplicationGroupIds))
	for i, id := range in.ReplicationGroupIds {
		groups[i] = strings.ToLower(id)
	}
	out := &ecapi.UpdateActionsMessage{UpdateActions: []ecapi.UpdateAction{}}
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
		for _, c := range caches {
			if c.Status == keyward.CacheDeleting || !u.AppliesTo(string(c.Engine), c.EngineVersion) ||
				len(groups) > 0 && !slices.Contains(groups, c.ID) {
				continue
			}
			a := updateAction(u, status, c, now, deref(in.ShowNodeLevelUpdateStatus))
			if len(in.UpdateActionStatus) > 0 && !slices.Contains(in.UpdateActionStatus, *a.UpdateActionStatus) {
				continue
			}
			key := u.Name + "/" + c.ID
			if key <= page.after {
				continue
			}
			if len(out.UpdateActions) == page.max {
				last := out.UpdateActions[page.max-1]
				out.Marker = ptr(encodeMarker(*last.ServiceUpdateName + "/" + *last.ReplicationGroupId))
				return out, nil
			}
			out.UpdateActions = append(out.UpdateActions, a)
		}
	}
	return out, nil
}

// updateAction is the action of update u on cache c: not-applied, or as
// the cache's record of it (keyward.CacheUpdate) shows it.
func updateAction(u serviceupdates.Update, status string, c *keyward.Cache, now time.Time, nodes bool) ecapi.UpdateAction {
	available := u.Released
	if c.CreatedAt.After(available) {
		available = c.CreatedAt
	}
	rec := c.Update(u.Name)
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
	a := ecapi.UpdateAction{
		ReplicationGroupId: ptr(c.ID), ServiceUpdateName: ptr(u.Name), ServiceUpdateReleaseDate: ptr(u.Released),
		ServiceUpdateSeverity: ptr(u.Severity), ServiceUpdateStatus: ptr(status),
		ServiceUpdateRecommendedApplyByDate: ptr(u.RecommendedApplyBy), ServiceUpdateType: ptr(u.Type),
		UpdateActionAvailableDate: ptr(available), UpdateActionStatus: ptr(actionStatus),
		NodesUpdated: ptr(fmt.Sprintf("%d/%d", done, len(c.Nodes))), UpdateActionStatusModifiedDate: ptr(modified),
		SlaMet: ptr(sla), EstimatedUpdateTime: ptr(u.EstimatedTime), Engine: ptr(string(c.Engine)),
	}
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
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, raw := range clusters {
		out.UnprocessedUpdateActions = append(out.UnprocessedUpdateActions, ecapi.UnprocessedUpdateAction{
			CacheClusterId: ptr(raw), ServiceUpdateName: ptr(name), ErrorType: ptr("InvalidParameterValue"),
			ErrorMessage: ptr(fmt.Sprintf("Cache cluster %s has no update action for %s: keyward applies service updates to replication groups (give ReplicationGroupIds).", raw, name)),
		})
	}
	s.notify(changed...)
	return out, nil
}

// changeUpdate starts (apply) or stops the cache's action for update name
// and returns its new status.
func (s *Service) changeUpdate(ctx context.Context, tx keyward.Tx, cur *keyward.Cache, name string, apply bool, now time.Time) (string, error) {
	c := cur.Clone()
	rec := c.Update(name)
	if !apply {
		if rec == nil || (rec.Status != keyward.UpdateInProgress && rec.Status != keyward.UpdateWaiting) {
			st := keyward.UpdateNotApplied
			if rec != nil {
				st = rec.Status
			}
			return "", keyward.Errorf(keyward.EINVALID, keyward.ResourceNone, "The update action %s of replication group %s is %s; only an action in progress can be stopped.", name, c.ID, st)
		}
		rec.Status, rec.Since = keyward.UpdateStopping, now
	} else {
		if rec != nil && rec.Status != keyward.UpdateStopped {
			return rec.Status, nil // already applied or being applied
		}
		if c.Status != keyward.CacheAvailable {
			return "", keyward.Errorf(keyward.ESTATE, keyward.ResourceReplicationGroup, "Replication group %s is not in available state (it is %s).", c.ID, c.ShownStatus())
		}
		if a := c.ActiveUpdate(); a != nil {
			return "", keyward.Errorf(keyward.ESTATE, keyward.ResourceReplicationGroup, "Replication group %s is applying service update %s.", c.ID, a.Name)
		}
		if slices.ContainsFunc(c.Nodes, func(n keyward.CacheNode) bool { return n.Reboot || n.Port == 0 }) {
			return "", keyward.Errorf(keyward.ESTATE, keyward.ResourceReplicationGroup, "Replication group %s has nodes being created or rebooted.", c.ID)
		}
		if rec == nil {
			c.Updates = append(c.Updates, keyward.CacheUpdate{Name: name})
			rec = &c.Updates[len(c.Updates)-1]
		}
		// A stopped action resumes: its completed nodes stay complete.
		done := map[string]bool{}
		for _, n := range rec.Nodes {
			done[n.ClusterID] = n.Status == keyward.UpdateComplete
		}
		nodes := make([]keyward.NodeUpdate, 0, len(c.Nodes))
		for _, n := range c.Nodes {
			nu := keyward.NodeUpdate{ClusterID: n.ClusterID, Status: keyward.UpdateWaiting, Since: now}
			if done[n.ClusterID] {
				j := slices.IndexFunc(rec.Nodes, func(x keyward.NodeUpdate) bool { return x.ClusterID == n.ClusterID })
				nu = rec.Nodes[j]
			}
			nodes = append(nodes, nu)
		}
		rec.Nodes, rec.Status, rec.Since, rec.Applied = nodes, keyward.UpdateInProgress, now, now
	}
	c.Generation++
	if err := tx.UpdateCache(ctx, c); err != nil {
		return "", err
	}
	return rec.Status, nil
}

// faultCode is the ElastiCache fault code a domain error maps to.
func faultCode(err error) string {
	if e, ok := apiError(err).(interface{ ErrorCode() string }); ok {
		return e.ErrorCode()
	}
	return "InternalFailure"
}
