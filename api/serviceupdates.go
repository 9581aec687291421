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
// scope's replication groups of its engine and version; keyward has not
// applied any (BatchApplyUpdateAction is a rolling restart still to come),
// so every action is not-applied. Serverless caches get no actions, as on
// ElastiCache, which patches them transparently.

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

// updateAction is the (not-applied) action of update u on cache c.
func updateAction(u serviceupdates.Update, status string, c *keyward.Cache, now time.Time, nodes bool) ecapi.UpdateAction {
	available := u.Released
	if c.CreatedAt.After(available) {
		available = c.CreatedAt
	}
	// SlaMet: "no" once the recommended apply-by date passed unapplied.
	sla := ecapi.SlaMetNA
	if !now.Before(u.RecommendedApplyBy) {
		sla = ecapi.SlaMetNo
	}
	a := ecapi.UpdateAction{
		ReplicationGroupId: ptr(c.ID), ServiceUpdateName: ptr(u.Name), ServiceUpdateReleaseDate: ptr(u.Released),
		ServiceUpdateSeverity: ptr(u.Severity), ServiceUpdateStatus: ptr(status),
		ServiceUpdateRecommendedApplyByDate: ptr(u.RecommendedApplyBy), ServiceUpdateType: ptr(u.Type),
		UpdateActionAvailableDate: ptr(available), UpdateActionStatus: ptr(ecapi.UpdateActionStatusNotApplied),
		NodesUpdated: ptr(fmt.Sprintf("0/%d", len(c.Nodes))), UpdateActionStatusModifiedDate: ptr(available),
		SlaMet: ptr(sla), EstimatedUpdateTime: ptr(u.EstimatedTime), Engine: ptr(string(c.Engine)),
	}
	if nodes {
		ng := ecapi.NodeGroupUpdateStatus{NodeGroupId: ptr("0001"), NodeGroupMemberUpdateStatus: []ecapi.NodeGroupMemberUpdateStatus{}}
		for _, n := range c.Nodes {
			ng.NodeGroupMemberUpdateStatus = append(ng.NodeGroupMemberUpdateStatus, ecapi.NodeGroupMemberUpdateStatus{
				CacheClusterId: ptr(n.ClusterID), CacheNodeId: ptr("0001"),
				NodeUpdateStatus: ptr(ecapi.NodeUpdateStatusNotApplied), NodeUpdateStatusModifiedDate: ptr(available),
			})
		}
		a.NodeGroupUpdateStatus = []ecapi.NodeGroupUpdateStatus{ng}
	}
	return a
}
