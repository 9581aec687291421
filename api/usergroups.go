package api

import (
	"context"
	"slices"
	"strings"

	"keyward"
	"keyward/ecapi"
)

func userGroupToAPI(g *keyward.UserGroup) *ecapi.UserGroup {
	out := &ecapi.UserGroup{
		UserGroupId:          ptr(g.ID),
		Status:               ptr(string(g.Status)),
		Engine:               ptr(string(g.Engine)),
		UserIds:              nonNil(slices.Clone(g.UserIDs)),
		MinimumEngineVersion: ptr(g.MinimumEngineVersion),
		ReplicationGroups:    nonNil(slices.Clone(g.ReplicationGroups)),
		ServerlessCaches:     nonNil(slices.Clone(g.ServerlessCaches)),
		ARN:                  ptr(g.Scope.ARN(keyward.ARNUserGroup, g.ID)),
	}
	if g.HasPendingChanges() {
		out.PendingChanges = &ecapi.UserGroupPendingChanges{}
		if len(g.PendingAdd) > 0 {
			out.PendingChanges.UserIdsToAdd = slices.Clone(g.PendingAdd)
		}
		if len(g.PendingRemove) > 0 {
			out.PendingChanges.UserIdsToRemove = slices.Clone(g.PendingRemove)
		}
	}
	return out
}

// normalizeUserIDs lower-cases a list of user ids and refuses repeats.
func normalizeUserIDs(param string, ids []string) ([]string, error) {
	out := make([]string, 0, len(ids))
	for _, raw := range ids {
		id, err := keyward.NormalizeUserID(raw)
		if err != nil {
			return nil, err
		}
		if slices.Contains(out, id) {
			return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceUser, "User %s is listed more than once in %s.", id, param)
		}
		out = append(out, id)
	}
	return out, nil
}

// findMembers loads users for a group change. Unknown users are UserNotFound;
// users being deleted can no longer join a group.
func findMembers(ctx context.Context, tx keyward.Tx, sc keyward.Scope, ids []string) ([]*keyward.User, error) {
	users := make([]*keyward.User, 0, len(ids))
	for _, id := range ids {
		u, err := tx.FindUserByID(ctx, sc, id)
		if err != nil {
			return nil, err
		}
		if u.Status == keyward.UserDeleting {
			return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceUser, "User %s is being deleted and can't be added to a user group.", id)
		}
		users = append(users, u)
	}
	return users, nil
}

// CreateUserGroup creates a group in "creating"; the reconciler makes it
// "active". Each member's UserGroupIds gains the group at once, since
// membership is one relation.
func (s *Service) CreateUserGroup(ctx context.Context, in *ecapi.CreateUserGroupMessage) (*ecapi.UserGroup, error) {
	out, err := s.createUserGroup(ctx, in)
	return out, apiError(err)
}

func (s *Service) createUserGroup(ctx context.Context, in *ecapi.CreateUserGroupMessage) (*ecapi.UserGroup, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	id, err := keyward.NormalizeUserGroupID(deref(in.UserGroupId))
	if err != nil {
		return nil, err
	}
	engine, err := keyward.ParseEngine(deref(in.Engine))
	if err != nil {
		return nil, err
	}
	userIDs, err := normalizeUserIDs("UserIds", in.UserIds)
	if err != nil {
		return nil, err
	}
	tags, err := parseTags(in.Tags)
	if err != nil {
		return nil, err
	}
	now := s.now()
	g := &keyward.UserGroup{
		Scope: sc, ID: id, Engine: engine, Status: keyward.UserGroupCreating,
		StatusSince: now, Generation: 1, CreatedAt: now,
	}
	err = s.Store.Update(ctx, func(tx keyward.Tx) error {
		if _, err := tx.FindUserGroupByID(ctx, sc, id); err == nil {
			return keyward.Errorf(keyward.EEXISTS, keyward.ResourceUserGroup, "User group %s already exists.", id)
		} else if keyward.ErrorCode(err) != keyward.ENOTFOUND {
			return err
		}
		members, err := findMembers(ctx, tx, sc, userIDs)
		if err != nil {
			return err
		}
		if err := keyward.CheckMembership(engine, members, s.Quotas.UsersPerGroup, keyward.EQUOTA); err != nil {
			return err
		}
		if n, err := tx.CountUserGroups(ctx, sc); err != nil {
			return err
		} else if n >= s.Quotas.UserGroups {
			return keyward.Errorf(keyward.EQUOTA, keyward.ResourceUserGroup, "The quota of %d user groups has been exceeded.", s.Quotas.UserGroups)
		}
		g.UserIDs = slices.Sorted(slices.Values(userIDs))
		g.MinimumEngineVersion = keyward.GroupMinimumEngineVersion(engine, members)
		if err := tx.CreateUserGroup(ctx, g); err != nil {
			return err
		}
		return tagNewResource(ctx, tx, sc, keyward.ResourceRef{Type: keyward.ARNUserGroup, ID: id}, tags)
	})
	if err != nil {
		return nil, err
	}
	s.notify(userGroupKey(sc, id))
	return userGroupToAPI(g), nil
}

// DescribeUserGroups lists groups, including those still being deleted.
func (s *Service) DescribeUserGroups(ctx context.Context, in *ecapi.DescribeUserGroupsMessage) (*ecapi.DescribeUserGroupsResult, error) {
	out, err := s.describeUserGroups(ctx, in)
	return out, apiError(err)
}

func (s *Service) describeUserGroups(ctx context.Context, in *ecapi.DescribeUserGroupsMessage) (*ecapi.DescribeUserGroupsResult, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	page, err := parsePage(in.MaxRecords, in.Marker)
	if err != nil {
		return nil, err
	}
	f := keyward.UserGroupFilter{AfterID: page.after, Limit: page.max + 1}
	if in.UserGroupId != nil {
		// InvalidParameterValue, as for every other malformed id.
		if f.ID, err = keyward.NormalizeUserGroupID(*in.UserGroupId); err != nil {
			return nil, err
		}
	}
	var groups []*keyward.UserGroup
	err = s.Store.View(ctx, func(tx keyward.Tx) (err error) {
		groups, err = tx.FindUserGroups(ctx, sc, f)
		return err
	})
	if err != nil {
		return nil, err
	}
	if f.ID != "" && len(groups) == 0 && page.after == "" {
		return nil, keyward.Errorf(keyward.ENOTFOUND, keyward.ResourceUserGroup, "User group %s not found.", f.ID)
	}
	out := &ecapi.DescribeUserGroupsResult{UserGroups: []ecapi.UserGroup{}}
	for i, g := range groups {
		if i == page.max {
			out.Marker = ptr(encodeMarker(groups[i-1].ID))
			break
		}
		out.UserGroups = append(out.UserGroups, *userGroupToAPI(g))
	}
	return out, nil
}

// ModifyUserGroup accepts a membership change. The answer shows "modifying",
// the membership before the change and PendingChanges; the reconciler
// applies it. A change to a group that is not active fails fast with
// InvalidUserGroupState (Terraform retries on it) rather than queueing.
func (s *Service) ModifyUserGroup(ctx context.Context, in *ecapi.ModifyUserGroupMessage) (*ecapi.UserGroup, error) {
	out, err := s.modifyUserGroup(ctx, in)
	return out, apiError(err)
}

func (s *Service) modifyUserGroup(ctx context.Context, in *ecapi.ModifyUserGroupMessage) (*ecapi.UserGroup, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	id, err := keyward.NormalizeUserGroupID(deref(in.UserGroupId))
	if err != nil {
		return nil, err
	}
	add, err := normalizeUserIDs("UserIdsToAdd", in.UserIdsToAdd)
	if err != nil {
		return nil, err
	}
	remove, err := normalizeUserIDs("UserIdsToRemove", in.UserIdsToRemove)
	if err != nil {
		return nil, err
	}
	var engine keyward.Engine
	if in.Engine != nil {
		if engine, err = keyward.ParseEngine(*in.Engine); err != nil {
			return nil, err
		}
	}
	if len(add) == 0 && len(remove) == 0 && engine == "" {
		return nil, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceUserGroup, "No modifications were requested.")
	}
	for _, u := range add {
		if slices.Contains(remove, u) {
			return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceUserGroup, "User %s can't be both added to and removed from user group %s.", u, id)
		}
	}
	var g *keyward.UserGroup
	err = s.Store.Update(ctx, func(tx keyward.Tx) error {
		cur, err := tx.FindUserGroupByID(ctx, sc, id)
		if err != nil {
			return err
		}
		if cur.Status != keyward.UserGroupActive {
			return keyward.Errorf(keyward.ESTATE, keyward.ResourceUserGroup, "User group %s has status %s. Only active user groups can be modified.", id, cur.Status)
		}
		g = cur.Clone()
		// Every removal must be a member, or nothing is applied (O TF#49948).
		var notMembers []string
		for _, u := range remove {
			if !slices.Contains(g.UserIDs, u) {
				notMembers = append(notMembers, u)
			}
		}
		if len(notMembers) > 0 {
			return keyward.Errorf(keyward.EINVALID, keyward.ResourceUserGroup, "User(s) %s is not a member of user group %s.", strings.Join(notMembers, ", "), id)
		}
		if _, err := findMembers(ctx, tx, sc, add); err != nil {
			return err
		}
		for _, u := range add {
			if slices.Contains(g.UserIDs, u) {
				return keyward.Errorf(keyward.EINVALID, keyward.ResourceUserGroup, "User %s is already a member of user group %s.", u, id)
			}
		}
		next := slices.DeleteFunc(slices.Clone(g.UserIDs), func(u string) bool { return slices.Contains(remove, u) })
		members, err := findMembers(ctx, tx, sc, append(next, add...))
		if err != nil {
			return err
		}
		if engine != "" {
			g.Engine = engine
		}
		if err := keyward.CheckMembership(g.Engine, members, s.Quotas.UsersPerGroup, keyward.EINVALID); err != nil {
			return err
		}
		g.PendingAdd, g.PendingRemove = add, remove
		g.Status, g.StatusSince, g.Generation = keyward.UserGroupModifying, s.now(), g.Generation+1
		return tx.UpdateUserGroup(ctx, g)
	})
	if err != nil {
		return nil, err
	}
	s.notify(append(cacheKeys(g), userGroupKey(sc, id))...)
	return userGroupToAPI(g), nil
}

// DeleteUserGroup deletes a group, never its users. A group still attached
// to a cache must first be detached.
func (s *Service) DeleteUserGroup(ctx context.Context, in *ecapi.DeleteUserGroupMessage) (*ecapi.UserGroup, error) {
	out, err := s.deleteUserGroup(ctx, in)
	return out, apiError(err)
}

func (s *Service) deleteUserGroup(ctx context.Context, in *ecapi.DeleteUserGroupMessage) (*ecapi.UserGroup, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	id, err := keyward.NormalizeUserGroupID(deref(in.UserGroupId))
	if err != nil {
		return nil, err
	}
	var g *keyward.UserGroup
	err = s.Store.Update(ctx, func(tx keyward.Tx) error {
		cur, err := tx.FindUserGroupByID(ctx, sc, id)
		if err != nil {
			return err
		}
		if cur.Attached() {
			return keyward.Errorf(keyward.ESTATE, keyward.ResourceUserGroup, "User group %s is associated with replication groups or serverless caches (%s). It must first be disassociated.", id, strings.Join(slices.Concat(cur.ReplicationGroups, cur.ServerlessCaches), ", "))
		}
		if cur.Status != keyward.UserGroupActive {
			return keyward.Errorf(keyward.ESTATE, keyward.ResourceUserGroup, "User group %s has status %s. Only active user groups can be deleted.", id, cur.Status)
		}
		g = cur.Clone()
		g.Status, g.StatusSince, g.Generation = keyward.UserGroupDeleting, s.now(), g.Generation+1
		return tx.UpdateUserGroup(ctx, g)
	})
	if err != nil {
		return nil, err
	}
	s.notify(userGroupKey(sc, id))
	return userGroupToAPI(g), nil
}
