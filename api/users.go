package api

import (
	"context"
	"slices"
	"strings"

	"keyward"
	"keyward/ecapi"
)

// userToAPI converts a stored user to the wire shape. PasswordCount is only
// present for password users, as real responses show.
func userToAPI(u *keyward.User) *ecapi.User {
	// One allocation holds the answer and every value it points to (the
	// model's members are pointers), instead of one per member.
	o := &userOut{
		id: u.ID, name: u.Name, status: string(u.Status), engine: string(u.Engine),
		minVersion: u.MinimumEngineVersion, access: u.AccessString, authType: string(u.Auth),
		arn: u.Scope.ARN(keyward.ARNUser, u.ID), passwords: int32(len(u.PasswordHashes)),
	}
	o.auth.Type = &o.authType
	if u.Auth == keyward.AuthPassword {
		o.auth.PasswordCount = &o.passwords
	}
	o.user = ecapi.User{
		UserId:               &o.id,
		UserName:             &o.name,
		Status:               &o.status,
		Engine:               &o.engine,
		MinimumEngineVersion: &o.minVersion,
		AccessString:         &o.access,
		UserGroupIds:         nonNil(slices.Clone(u.GroupIDs)),
		Authentication:       &o.auth,
		ARN:                  &o.arn,
	}
	return &o.user
}

// userOut is the storage of one userToAPI answer.
type userOut struct {
	user                                                        ecapi.User
	auth                                                        ecapi.Authentication
	id, name, status, engine, minVersion, access, authType, arn string
	passwords                                                   int32
}

// authInput is the authentication part of CreateUser/ModifyUser: three ways
// to say one thing (Passwords, NoPasswordRequired, AuthenticationMode).
type authInput struct {
	passwords     []string
	noPassword    *bool
	mode          *ecapi.AuthenticationMode
	modePasswords []string
}

func newAuthInput(pws []string, npr *bool, mode *ecapi.AuthenticationMode) authInput {
	a := authInput{passwords: pws, noPassword: npr, mode: mode}
	if mode != nil {
		a.modePasswords = mode.Passwords
	}
	return a
}

// given reports whether the request says anything about authentication
// beyond NoPasswordRequired=false, which Terraform sends on every call.
func (a authInput) given() bool {
	return len(a.passwords) > 0 || len(a.modePasswords) > 0 || deref(a.noPassword) || (a.mode != nil && a.mode.Type != nil)
}

// resolve turns the request into one mechanism and its passwords, with the
// error texts ElastiCache (and moto, which copied them) uses.
func (a authInput) resolve(userID, userName string) (keyward.AuthType, []string, error) {
	if len(a.passwords) > 0 && len(a.modePasswords) > 0 {
		return "", nil, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceUser, "Passwords provided via multiple arguments. Use only one argument")
	}
	pws := a.passwords
	if len(a.modePasswords) > 0 {
		pws = a.modePasswords
	}
	modeType := ""
	if a.mode != nil {
		modeType = strings.ToLower(deref(a.mode.Type))
	}
	if deref(a.noPassword) {
		if modeType != "" && modeType != ecapi.InputAuthenticationTypeNoPasswordRequired {
			return "", nil, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceUser, "No password required flag is true but provided authentication type is %s", modeType)
		}
		if len(pws) > 0 {
			return "", nil, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceUser, "Password field is not allowed with authentication type: no-password-required")
		}
		return keyward.AuthNoPassword, nil, nil
	}
	switch modeType {
	case ecapi.InputAuthenticationTypePassword:
		if len(pws) == 0 {
			return "", nil, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceUser, "A user with Authentication Mode: password, must have at least one password")
		}
	case ecapi.InputAuthenticationTypeNoPasswordRequired, ecapi.InputAuthenticationTypeIam:
		if len(pws) > 0 {
			return "", nil, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceUser, "Password field is not allowed with authentication type: %s", modeType)
		}
		if modeType == ecapi.InputAuthenticationTypeNoPasswordRequired {
			return keyward.AuthNoPassword, nil, nil
		}
		if strings.ToLower(userName) != userID {
			return "", nil, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceUser, "User Id and User name must be same for authentication type: iam")
		}
		return keyward.AuthIAM, nil, nil
	case "":
		if len(pws) == 0 {
			return "", nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceUser, "Input Authentication type: null is not in the allowed list: [password,no-password-required,iam]")
		}
	default:
		return "", nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceUser, "Input Authentication type: %s is not in the allowed list: [password,no-password-required,iam]", modeType)
	}
	if err := keyward.ValidatePasswords(pws); err != nil {
		return "", nil, err
	}
	return keyward.AuthPassword, pws, nil
}

// checkUserEngine applies the Valkey rule: valkey users authenticate with a
// password or IAM.
func checkUserEngine(e keyward.Engine, auth keyward.AuthType) error {
	if e == keyward.EngineValkey && auth == keyward.AuthNoPassword {
		return keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceUser, "Valkey users must use password or IAM authentication; no-password-required is not supported for the valkey engine.")
	}
	return nil
}

// userMinimumEngineVersion is the lowest engine version that can hold u:
// the engine's RBAC base, raised by the access string's syntax and by IAM.
func userMinimumEngineVersion(e keyward.Engine, auth keyward.AuthType, as *keyward.AccessString) string {
	v := keyward.MaxEngineVersion(keyward.BaseEngineVersion(e), as.MinimumEngineVersion())
	if auth == keyward.AuthIAM {
		v = keyward.MaxEngineVersion(v, "7.0")
	}
	return v
}

func parseTags(in []ecapi.Tag) ([]keyward.Tag, error) {
	tags := make([]keyward.Tag, 0, len(in))
	for _, t := range in {
		tags = append(tags, keyward.Tag{Key: deref(t.Key), Value: deref(t.Value)})
	}
	return tags, keyward.ValidateTags(tags)
}

func tagsToAPI(tags []keyward.Tag) []ecapi.Tag {
	out := make([]ecapi.Tag, 0, len(tags))
	for _, t := range tags {
		out = append(out, ecapi.Tag{Key: ptr(t.Key), Value: ptr(t.Value)})
	}
	return out
}

// CreateUser creates a user. It answers "active": no source shows a
// "creating" user, and a user in no group needs nothing from the data plane.
func (s *Service) CreateUser(ctx context.Context, in *ecapi.CreateUserMessage) (*ecapi.User, error) {
	out, err := s.createUser(ctx, in)
	return out, apiError(err)
}

func (s *Service) createUser(ctx context.Context, in *ecapi.CreateUserMessage) (*ecapi.User, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	id, err := keyward.NormalizeUserID(deref(in.UserId))
	if err != nil {
		return nil, err
	}
	name := deref(in.UserName)
	if err := keyward.ValidateUserName(name); err != nil {
		return nil, err
	}
	engine, err := keyward.ParseEngine(deref(in.Engine))
	if err != nil {
		return nil, err
	}
	auth, pws, err := newAuthInput(in.Passwords, in.NoPasswordRequired, in.AuthenticationMode).resolve(id, name)
	if err != nil {
		return nil, err
	}
	if err := checkUserEngine(engine, auth); err != nil {
		return nil, err
	}
	as, err := keyward.ParseAccessString(deref(in.AccessString))
	if err != nil {
		return nil, err
	}
	tags, err := parseTags(in.Tags)
	if err != nil {
		return nil, err
	}
	now := s.now()
	u := &keyward.User{
		Scope: sc, ID: id, Name: name, Engine: engine, AccessString: as.String(),
		Auth: auth, PasswordHashes: keyward.HashPasswords(pws),
		MinimumEngineVersion: userMinimumEngineVersion(engine, auth, as),
		Status:               keyward.UserActive, StatusSince: now, Generation: 1, CreatedAt: now,
	}
	err = s.Store.Update(ctx, func(tx keyward.Tx) error {
		// An existing id is reported before the quota; the store's insert
		// reports it (EEXISTS) without a lookup first, except at the quota.
		if n, err := tx.CountUsers(ctx, sc); err != nil {
			return err
		} else if n >= s.Quotas.Users {
			if _, err := tx.FindUserByID(ctx, sc, id); err == nil {
				return keyward.Errorf(keyward.EEXISTS, keyward.ResourceUser, "User %s already exists.", id)
			}
			return keyward.Errorf(keyward.EQUOTA, keyward.ResourceUser, "The quota of %d users has been exceeded.", s.Quotas.Users)
		}
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		return tagNewResource(ctx, tx, sc, keyward.ResourceRef{Type: keyward.ARNUser, ID: id}, tags)
	})
	if err != nil {
		return nil, err
	}
	return userToAPI(u), nil
}

// DescribeUsers lists users, including the built-in default user and users
// still being deleted (shown as "deleting").
func (s *Service) DescribeUsers(ctx context.Context, in *ecapi.DescribeUsersMessage) (*ecapi.DescribeUsersResult, error) {
	out, err := s.describeUsers(ctx, in)
	return out, apiError(err)
}

func (s *Service) describeUsers(ctx context.Context, in *ecapi.DescribeUsersMessage) (*ecapi.DescribeUsersResult, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	page, err := parsePage(in.MaxRecords, in.Marker)
	if err != nil {
		return nil, err
	}
	f := keyward.UserFilter{AfterID: page.after}
	if in.UserId != nil {
		// A malformed id is InvalidParameterValue, as the model's pattern
		// check in the decoder answers for the same parameter.
		if f.ID, err = keyward.NormalizeUserID(*in.UserId); err != nil {
			return nil, err
		}
	}
	if in.Engine != nil {
		if f.Engine, err = keyward.ParseEngine(*in.Engine); err != nil {
			return nil, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceUser, "%s", keyward.ErrorMessage(err))
		}
	}
	match, err := userFilters(in.Filters)
	if err != nil {
		return nil, err
	}
	if match == nil {
		f.Limit = page.max + 1
	}
	var users []*keyward.User
	err = s.Store.View(ctx, func(tx keyward.Tx) (err error) {
		users, err = tx.FindUsers(ctx, sc, f)
		return err
	})
	if err != nil {
		return nil, err
	}
	if f.ID != "" && len(users) == 0 && page.after == "" {
		return nil, keyward.Errorf(keyward.ENOTFOUND, keyward.ResourceUser, "User %s not found.", f.ID)
	}
	if match != nil {
		users = slices.DeleteFunc(users, func(u *keyward.User) bool { return !match(u) })
	}
	out := &ecapi.DescribeUsersResult{Users: []ecapi.User{}}
	for i, u := range users {
		if i == page.max {
			out.Marker = ptr(encodeMarker(users[i-1].ID))
			break
		}
		out.Users = append(out.Users, *userToAPI(u))
	}
	return out, nil
}

// userFilters compiles DescribeUsers' Filters: values of one name are ORed,
// names are ANDed. The model documents only UserId; Engine and UserName are
// accepted as extensions. It returns nil when there are no filters.
func userFilters(fs []ecapi.Filter) (func(*keyward.User) bool, error) {
	if len(fs) == 0 {
		return nil, nil
	}
	type clause struct {
		field  func(*keyward.User) string
		values []string
	}
	var clauses []clause
	for _, f := range fs {
		var c clause
		switch strings.ToLower(deref(f.Name)) {
		case "userid", "user-id":
			c.field = func(u *keyward.User) string { return u.ID }
			for _, v := range f.Values {
				c.values = append(c.values, strings.ToLower(v))
			}
		case "engine":
			c.field = func(u *keyward.User) string { return string(u.Engine) }
			for _, v := range f.Values {
				c.values = append(c.values, strings.ToLower(v))
			}
		case "username", "user-name":
			c.field = func(u *keyward.User) string { return u.Name }
			c.values = f.Values
		default:
			return nil, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceUser, "Invalid filter name %s. Valid filter names are UserId, Engine and UserName.", deref(f.Name))
		}
		clauses = append(clauses, c)
	}
	return func(u *keyward.User) bool {
		for _, c := range clauses {
			if !slices.Contains(c.values, c.field(u)) {
				return false
			}
		}
		return true
	}, nil
}

// ModifyUser changes a user's access string, passwords, authentication or
// engine. It answers "modifying" with the new values; the reconciler pushes
// them to the caches and returns the user to "active".
func (s *Service) ModifyUser(ctx context.Context, in *ecapi.ModifyUserMessage) (*ecapi.User, error) {
	out, err := s.modifyUser(ctx, in)
	return out, apiError(err)
}

func (s *Service) modifyUser(ctx context.Context, in *ecapi.ModifyUserMessage) (*ecapi.User, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	id, err := keyward.NormalizeUserID(deref(in.UserId))
	if err != nil {
		return nil, err
	}
	authIn := newAuthInput(in.Passwords, in.NoPasswordRequired, in.AuthenticationMode)
	if in.AccessString == nil && in.AppendAccessString == nil && in.Engine == nil && !authIn.given() && in.NoPasswordRequired == nil {
		return nil, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceUser, "No modifications were requested.")
	}
	if in.AccessString != nil && in.AppendAccessString != nil {
		return nil, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceUser, "AccessString and AppendAccessString cannot be used together.")
	}
	var u *keyward.User
	var touched []keyward.Key
	err = s.Store.Update(ctx, func(tx keyward.Tx) error {
		touched = touched[:0]
		cur, err := tx.FindUserByID(ctx, sc, id)
		if err != nil {
			return err
		}
		if cur.Status != keyward.UserActive {
			return keyward.Errorf(keyward.ESTATE, keyward.ResourceUser, "User %s has status %s. Only active users can be modified.", id, cur.Status)
		}
		if cur.IsBuiltinDefault() {
			return keyward.Errorf(keyward.EINVALID, keyward.ResourceUser, "The built-in user default can't be modified. Create a user with the user name default instead.")
		}
		u = cur.Clone()
		if authIn.given() {
			auth, pws, err := authIn.resolve(u.ID, u.Name)
			if err != nil {
				return err
			}
			u.Auth, u.PasswordHashes = auth, keyward.HashPasswords(pws)
		} else if in.NoPasswordRequired != nil && u.Auth != keyward.AuthPassword && in.AccessString == nil && in.AppendAccessString == nil && in.Engine == nil {
			// NoPasswordRequired=false alone asks for a password user but names no password.
			return keyward.Errorf(keyward.EINVALID, keyward.ResourceUser, "No password was provided. If you want to create/update the user without password, please use the NoPasswordRequired flag.")
		}
		if in.Engine != nil {
			if u.Engine, err = keyward.ParseEngine(*in.Engine); err != nil {
				return err
			}
		}
		if err := checkUserEngine(u.Engine, u.Auth); err != nil {
			return err
		}
		var as *keyward.AccessString
		switch {
		case in.AccessString != nil:
			as, err = keyward.ParseAccessString(*in.AccessString)
		case in.AppendAccessString != nil:
			if as, err = keyward.ParseAccessString(u.AccessString); err == nil {
				as, err = as.Append(*in.AppendAccessString)
			}
		default:
			as, err = keyward.ParseAccessString(u.AccessString)
		}
		if err != nil {
			return err
		}
		u.AccessString = as.String()
		u.MinimumEngineVersion = userMinimumEngineVersion(u.Engine, u.Auth, as)
		// The user must still fit every group it belongs to.
		for _, gid := range u.GroupIDs {
			g, err := tx.FindUserGroupByID(ctx, sc, gid)
			if err != nil {
				return err
			}
			if err := keyward.CheckEngineCompatible(g.Engine, u); err != nil {
				return keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceUser, "%s", keyward.ErrorMessage(err))
			}
			touched = append(touched, cacheKeys(g)...)
		}
		u.Status, u.StatusSince, u.Generation = keyward.UserModifying, s.now(), u.Generation+1
		return tx.UpdateUser(ctx, u)
	})
	if err != nil {
		return nil, err
	}
	s.notify(append(touched, userKey(sc, id))...)
	return userToAPI(u), nil
}

// DeleteUser implements the seed page: the user answers "deleting", leaves
// every user group at once (so the groups' caches drop it), and disappears
// when the reconciler has finished; DescribeUsers then answers UserNotFound.
func (s *Service) DeleteUser(ctx context.Context, in *ecapi.DeleteUserMessage) (*ecapi.User, error) {
	out, err := s.deleteUser(ctx, in)
	return out, apiError(err)
}

func (s *Service) deleteUser(ctx context.Context, in *ecapi.DeleteUserMessage) (*ecapi.User, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	id, err := keyward.NormalizeUserID(deref(in.UserId))
	if err != nil {
		return nil, err
	}
	var out *ecapi.User
	var touched []keyward.Key
	var gone bool
	err = s.Store.Update(ctx, func(tx keyward.Tx) error {
		touched, gone = touched[:0], false
		u, err := tx.FindUserByID(ctx, sc, id)
		if err != nil {
			return err
		}
		groups, err := tx.FindUserGroups(ctx, sc, keyward.UserGroupFilter{})
		if err != nil {
			return err
		}
		// Groups the user is in, or is about to join by a pending change.
		var involved []*keyward.UserGroup
		for _, g := range groups {
			if slices.Contains(g.UserIDs, id) || slices.Contains(g.PendingAdd, id) {
				involved = append(involved, g)
			}
		}
		if u.Name == keyward.DefaultUserID && len(involved) > 0 {
			ids := make([]string, len(involved))
			for i, g := range involved {
				ids[i] = g.ID
			}
			return keyward.Errorf(keyward.EDEFAULTUSERASSOCIATED, keyward.ResourceUser, "User is associated to user group(s) %s as its default user. Replace it with another user named default before deleting it.", strings.Join(ids, ", "))
		}
		if u.IsBuiltinDefault() {
			return keyward.Errorf(keyward.EINVALID, keyward.ResourceUser, "The built-in user default can't be deleted.")
		}
		if u.Status != keyward.UserActive {
			return keyward.Errorf(keyward.ESTATE, keyward.ResourceUser, "User %s has status %s. Only active users can be deleted.", id, u.Status)
		}
		u.Status, u.StatusSince, u.Generation = keyward.UserDeleting, s.now(), u.Generation+1
		// The response still lists the groups the user is leaving (O RBAC23).
		out = userToAPI(u)
		if len(involved) == 0 && s.TransitionDelay == 0 {
			// On no node and in no group: nothing to wait for (the
			// reconciler's finishUngrouped would only remove it).
			gone = true
			return tx.DeleteUser(ctx, sc, id)
		}
		u.LeavingGroups = nil
		for _, g := range involved {
			u.LeavingGroups = append(u.LeavingGroups, g.ID)
			g.UserIDs = slices.DeleteFunc(g.UserIDs, func(x string) bool { return x == id })
			g.PendingAdd = slices.DeleteFunc(g.PendingAdd, func(x string) bool { return x == id })
			g.PendingRemove = slices.DeleteFunc(g.PendingRemove, func(x string) bool { return x == id })
			if g.Status == keyward.UserGroupActive {
				g.Status, g.StatusSince = keyward.UserGroupModifying, u.StatusSince
			}
			g.Generation++
			if err := tx.UpdateUserGroup(ctx, g); err != nil {
				return err
			}
			touched = append(touched, cacheKeys(g)...)
			touched = append(touched, userGroupKey(sc, g.ID))
		}
		return tx.UpdateUser(ctx, u)
	})
	if err != nil {
		return nil, err
	}
	if !gone {
		s.notify(append(touched, userKey(sc, id))...)
	}
	return out, nil
}
