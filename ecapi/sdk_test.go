package ecapi_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"keyward/awsquery"
	"keyward/ecapi"
)

// TestSDKEveryOperation sends every operation through the real
// aws-sdk-go-v2 client with every input field set, and answers with every
// output field set: the server must decode exactly what the SDK encoded and
// the SDK must decode exactly what the server encoded.
func TestSDKEveryOperation(t *testing.T) {
	var (
		mu    sync.Mutex
		gotIn any
		out   any
	)
	svc := ecapi.ServiceFunc(func(ctx context.Context, op string, in any) (any, error) {
		mu.Lock()
		defer mu.Unlock()
		gotIn = in
		return out, nil
	})
	srv := httptest.NewServer(ecapi.NewHandler(svc, awsquery.Options{}))
	defer srv.Close()
	client := reflect.ValueOf(newClient(srv.URL))
	svcType := reflect.TypeOf((*ecapi.Service)(nil)).Elem()
	// 75 of botocore 1.43.11 and PrepareMigration, StopMigration of the
	// aws-sdk-go-v2 overlay.
	if len(ecapi.Operations) != 77 || svcType.NumMethod() != 77 {
		t.Fatalf("%d operations, %d Service methods; want 77", len(ecapi.Operations), svcType.NumMethod())
	}
	// And the other way round: every operation of the SDK client is in the
	// model (a newer SDK in go.mod needs `go generate ./ecapi`).
	known := map[string]bool{}
	for _, op := range ecapi.Operations {
		known[op] = true
	}
	ct := client.Type()
	for i := 0; i < ct.NumMethod(); i++ {
		m := ct.Method(i)
		if m.Type.NumIn() == 4 && m.Type.In(2).Kind() == reflect.Pointer && m.Type.In(2).Elem().Name() == m.Name+"Input" && !known[m.Name] {
			t.Errorf("the SDK has operation %s, the model does not", m.Name)
		}
	}
	ctx := context.Background()
	for _, op := range ecapi.Operations {
		t.Run(op, func(t *testing.T) {
			call := client.MethodByName(op)
			if !call.IsValid() {
				t.Fatalf("the SDK has no %s", op)
			}
			sdkIn := reflect.New(call.Type().In(1).Elem())
			(&filler{}).fill(sdkIn.Elem())
			sm, _ := svcType.MethodByName(op)
			var want reflect.Value
			mu.Lock()
			out = nil
			if sm.Type.NumOut() == 2 {
				want = reflect.New(sm.Type.Out(0).Elem())
				(&filler{n: 500}).fill(want.Elem())
				out = want.Interface()
			}
			mu.Unlock()
			res := call.Call([]reflect.Value{reflect.ValueOf(ctx), sdkIn})
			if err, _ := res[1].Interface().(error); err != nil {
				t.Fatalf("%s: %v", op, err)
			}
			mu.Lock()
			in := gotIn
			mu.Unlock()
			for _, d := range diffTrees("input", tree(t, sdkIn.Interface()), tree(t, in), nil) {
				t.Error(d)
			}
			if want.IsValid() {
				for _, d := range diffTrees("output", tree(t, want.Interface()), tree(t, res[0].Interface()), map[string]bool{"ResultMetadata": true}) {
					t.Error(d)
				}
			}
		})
	}
}

// fake serves a few operations with fixed, fully populated values and
// records what it received.
type fake struct {
	ecapi.UnimplementedService
	mu      sync.Mutex
	created *ecapi.CreateUserMessage
	descr   *ecapi.DescribeUsersMessage
	tagged  *ecapi.AddTagsToResourceMessage
	reqID   string
}

var created = time.Date(2024, 5, 6, 7, 8, 9, 123e6, time.UTC)

func (f *fake) CreateUser(ctx context.Context, in *ecapi.CreateUserMessage) (*ecapi.User, error) {
	f.mu.Lock()
	f.created, f.reqID = in, awsquery.RequestID(ctx)
	f.mu.Unlock()
	return &ecapi.User{
		UserId: in.UserId, UserName: in.UserName, Status: aws.String("active"), Engine: in.Engine,
		MinimumEngineVersion: aws.String("6.0"), AccessString: in.AccessString,
		UserGroupIds: []string{}, // sent empty: <UserGroupIds></UserGroupIds>
		Authentication: &ecapi.Authentication{
			Type: aws.String(ecapi.AuthenticationTypePassword), PasswordCount: aws.Int32(int32(len(in.Passwords))),
		},
		ARN: aws.String("arn:aws:elasticache:us-east-1:123456789012:user:" + *in.UserId),
	}, nil
}

func (f *fake) DescribeUsers(ctx context.Context, in *ecapi.DescribeUsersMessage) (*ecapi.DescribeUsersResult, error) {
	f.mu.Lock()
	f.descr = in
	f.mu.Unlock()
	return &ecapi.DescribeUsersResult{
		Users: []ecapi.User{
			{UserId: aws.String("default"), UserName: aws.String("default"), UserGroupIds: []string{"g1", "g2"},
				Authentication: &ecapi.Authentication{Type: aws.String(ecapi.AuthenticationTypeNoPassword)}},
			{UserId: aws.String("bob"), UserName: aws.String("bob")}, // UserGroupIds nil: omitted
		},
		Marker: aws.String("next"),
	}, nil
}

func (f *fake) DeleteUser(ctx context.Context, in *ecapi.DeleteUserMessage) (*ecapi.User, error) {
	if *in.UserId == "ghost" {
		return nil, &ecapi.UserNotFoundFault{Message: "User ghost not found."}
	}
	return &ecapi.User{UserId: in.UserId, Status: aws.String("deleting")}, nil
}

func (f *fake) AddTagsToResource(ctx context.Context, in *ecapi.AddTagsToResourceMessage) (*ecapi.TagListMessage, error) {
	f.mu.Lock()
	f.tagged = in
	f.mu.Unlock()
	return &ecapi.TagListMessage{TagList: in.Tags}, nil
}

func (f *fake) DescribeReplicationGroups(ctx context.Context, in *ecapi.DescribeReplicationGroupsMessage) (*ecapi.ReplicationGroupMessage, error) {
	if in.ReplicationGroupId != nil && *in.ReplicationGroupId == "nope" {
		return nil, &ecapi.ReplicationGroupNotFoundFault{Message: "ReplicationGroup nope not found."}
	}
	return &ecapi.ReplicationGroupMessage{ReplicationGroups: []ecapi.ReplicationGroup{
		{
			ReplicationGroupId: aws.String("rg1"), Status: aws.String("available"),
			MemberClusters: []string{"rg1-001", "rg1-002"},
			NodeGroups: []ecapi.NodeGroup{{
				NodeGroupId: aws.String("0001"), Status: aws.String("available"),
				PrimaryEndpoint: &ecapi.Endpoint{Address: aws.String("primary.local"), Port: aws.Int32(6379)},
				NodeGroupMembers: []ecapi.NodeGroupMember{
					{CacheClusterId: aws.String("rg1-001"), CacheNodeId: aws.String("0001"), CurrentRole: aws.String("primary")},
					{CacheClusterId: aws.String("rg1-002"), CacheNodeId: aws.String("0001"), CurrentRole: aws.String("replica")},
				},
			}},
			AutomaticFailover: aws.String(ecapi.AutomaticFailoverStatusEnabled),
			ClusterEnabled:    aws.Bool(false), TransitEncryptionEnabled: aws.Bool(true),
			UserGroupIds:               []string{"g1"},
			ReplicationGroupCreateTime: aws.Time(created),
			ARN:                        aws.String("arn:aws:elasticache:us-east-1:123456789012:replicationgroup:rg1"),
			PendingModifiedValues: &ecapi.ReplicationGroupPendingModifiedValues{
				LogDeliveryConfigurations: []ecapi.PendingLogDeliveryConfiguration{{LogType: aws.String(ecapi.LogTypeSlowLog)}},
			},
		},
	}}, nil
}

func newFakeServer(t *testing.T) (*fake, *capture, *elasticache.Client) {
	t.Helper()
	f := &fake{}
	c := &capture{h: ecapi.NewHandler(f, awsquery.Options{})}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return f, c, newClient(srv.URL)
}

func TestSDKCreateUser(t *testing.T) {
	f, c, client := newFakeServer(t)
	out, err := client.CreateUser(context.Background(), &elasticache.CreateUserInput{
		UserId: aws.String("alice"), UserName: aws.String("alice"), Engine: aws.String("redis"),
		AccessString: aws.String("on ~* +@all"), Passwords: []string{"password-one-123", "password-two-456"},
		NoPasswordRequired: aws.Bool(false),
		Tags:               []types.Tag{{Key: aws.String("team"), Value: aws.String("cache")}, {Key: aws.String("env"), Value: aws.String("prod")}},
		AuthenticationMode: &types.AuthenticationMode{Type: types.InputAuthenticationTypePassword, Passwords: []string{"password-one-123"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := &ecapi.CreateUserMessage{
		UserId: aws.String("alice"), UserName: aws.String("alice"), Engine: aws.String("redis"),
		AccessString: aws.String("on ~* +@all"), Passwords: []string{"password-one-123", "password-two-456"},
		NoPasswordRequired: aws.Bool(false),
		Tags:               []ecapi.Tag{{Key: aws.String("team"), Value: aws.String("cache")}, {Key: aws.String("env"), Value: aws.String("prod")}},
		AuthenticationMode: &ecapi.AuthenticationMode{Type: aws.String("password"), Passwords: []string{"password-one-123"}},
	}
	f.mu.Lock()
	if d := cmp.Diff(want, f.created); d != "" {
		t.Errorf("server decoded (-want +got):\n%s", d)
	}
	if f.reqID == "" {
		t.Error("awsquery.RequestID(ctx) is empty in the service")
	}
	f.mu.Unlock()
	req, resp := c.last()
	for _, p := range []string{"Action=CreateUser", "Version=2015-02-02", "Tags.Tag.1.Key=team", "Tags.Tag.2.Value=prod",
		"Passwords.member.2=password-two-456", "AuthenticationMode.Passwords.member.1=password-one-123",
		"AuthenticationMode.Type=password", "NoPasswordRequired=false"} {
		if !strings.Contains(req, p) {
			t.Errorf("request body lacks %s: %s", p, req)
		}
	}
	for _, p := range []string{`<CreateUserResponse xmlns="http://elasticache.amazonaws.com/doc/2015-02-02/"><CreateUserResult>`,
		"<UserGroupIds></UserGroupIds>", "<PasswordCount>2</PasswordCount>", "</CreateUserResult><ResponseMetadata><RequestId>"} {
		if !strings.Contains(resp, p) {
			t.Errorf("response lacks %s: %s", p, resp)
		}
	}
	if *out.UserId != "alice" || *out.Status != "active" || out.Authentication.Type != types.AuthenticationTypePassword ||
		*out.Authentication.PasswordCount != 2 || !strings.HasSuffix(*out.ARN, ":user:alice") || *out.MinimumEngineVersion != "6.0" {
		t.Errorf("SDK decoded %+v", out)
	}
	if len(out.UserGroupIds) != 0 {
		t.Errorf("UserGroupIds = %v, want empty", out.UserGroupIds)
	}
	if id, ok := awsmiddlewareRequestID(out.ResultMetadata); !ok || id == "" {
		t.Error("SDK found no request id")
	}
}

func TestSDKDescribeUsers(t *testing.T) {
	f, c, client := newFakeServer(t)
	out, err := client.DescribeUsers(context.Background(), &elasticache.DescribeUsersInput{
		Engine:     aws.String("redis"),
		Filters:    []types.Filter{{Name: aws.String("user-id"), Values: []string{"a", "b"}}, {Name: aws.String("status"), Values: []string{"active"}}},
		MaxRecords: aws.Int32(50),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	want := &ecapi.DescribeUsersMessage{Engine: aws.String("redis"), MaxRecords: aws.Int32(50), Filters: []ecapi.Filter{
		{Name: aws.String("user-id"), Values: []string{"a", "b"}}, {Name: aws.String("status"), Values: []string{"active"}},
	}}
	if d := cmp.Diff(want, f.descr); d != "" {
		t.Errorf("server decoded (-want +got):\n%s", d)
	}
	f.mu.Unlock()
	req, resp := c.last()
	if !strings.Contains(req, "Filters.member.1.Values.member.2=b") || !strings.Contains(req, "Filters.member.2.Name=status") {
		t.Errorf("request body: %s", req)
	}
	if strings.Count(resp, "<UserGroupIds>") != 1 {
		t.Errorf("a nil UserGroupIds must be omitted: %s", resp)
	}
	if len(out.Users) != 2 || *out.Marker != "next" || *out.Users[0].UserId != "default" ||
		!reflect.DeepEqual(out.Users[0].UserGroupIds, []string{"g1", "g2"}) ||
		out.Users[0].Authentication.Type != types.AuthenticationTypeNoPassword || out.Users[1].UserGroupIds != nil {
		t.Errorf("SDK decoded %+v", out)
	}
}

func TestSDKDescribeReplicationGroups(t *testing.T) {
	_, c, client := newFakeServer(t)
	out, err := client.DescribeReplicationGroups(context.Background(), &elasticache.DescribeReplicationGroupsInput{})
	if err != nil {
		t.Fatal(err)
	}
	_, resp := c.last()
	for _, p := range []string{"<ReplicationGroups><ReplicationGroup><ReplicationGroupId>rg1</ReplicationGroupId>",
		"<MemberClusters><ClusterId>rg1-001</ClusterId><ClusterId>rg1-002</ClusterId></MemberClusters>",
		"<NodeGroups><NodeGroup>", "<NodeGroupMembers><NodeGroupMember><CacheClusterId>rg1-001</CacheClusterId>",
		"<ReplicationGroupCreateTime>2024-05-06T07:08:09.123Z</ReplicationGroupCreateTime>",
		"<ClusterEnabled>false</ClusterEnabled>", "<TransitEncryptionEnabled>true</TransitEncryptionEnabled>",
		// The pending log delivery list is written under both of its names
		// (see ecgen's altName): the SDK reads the first, botocore the second.
		"<LogDeliveryConfigurations><member><LogType>slow-log</LogType></member></LogDeliveryConfigurations>",
		"<PendingLogDeliveryConfiguration><member><LogType>slow-log</LogType></member></PendingLogDeliveryConfiguration>",
	} {
		if !strings.Contains(resp, p) {
			t.Errorf("response lacks %s:\n%s", p, resp)
		}
	}
	if len(out.ReplicationGroups) != 1 {
		t.Fatalf("ReplicationGroups = %d", len(out.ReplicationGroups))
	}
	rg := out.ReplicationGroups[0]
	if *rg.ReplicationGroupId != "rg1" || !reflect.DeepEqual(rg.MemberClusters, []string{"rg1-001", "rg1-002"}) ||
		len(rg.NodeGroups) != 1 || len(rg.NodeGroups[0].NodeGroupMembers) != 2 ||
		*rg.NodeGroups[0].NodeGroupMembers[1].CurrentRole != "replica" || *rg.NodeGroups[0].PrimaryEndpoint.Port != 6379 ||
		!rg.ReplicationGroupCreateTime.Equal(created) || rg.AutomaticFailover != types.AutomaticFailoverStatusEnabled ||
		*rg.ClusterEnabled || !*rg.TransitEncryptionEnabled || rg.UserGroupIds[0] != "g1" ||
		len(rg.PendingModifiedValues.LogDeliveryConfigurations) != 1 ||
		rg.PendingModifiedValues.LogDeliveryConfigurations[0].LogType != types.LogTypeSlowLog {
		t.Errorf("SDK decoded %+v", rg)
	}
}

func TestSDKAddTagsToResource(t *testing.T) {
	f, c, client := newFakeServer(t)
	out, err := client.AddTagsToResource(context.Background(), &elasticache.AddTagsToResourceInput{
		ResourceName: aws.String("arn:aws:elasticache:us-east-1:123456789012:user:alice"),
		Tags:         []types.Tag{{Key: aws.String("a"), Value: aws.String("1")}, {Key: aws.String("b"), Value: aws.String("")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	if len(f.tagged.Tags) != 2 || *f.tagged.Tags[1].Key != "b" || f.tagged.Tags[1].Value == nil || *f.tagged.Tags[1].Value != "" {
		t.Errorf("server decoded %+v", f.tagged)
	}
	f.mu.Unlock()
	if _, resp := c.last(); !strings.Contains(resp, "<TagList><Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>b</Key><Value></Value></Tag></TagList>") {
		t.Errorf("response: %s", resp)
	}
	if len(out.TagList) != 2 || *out.TagList[0].Key != "a" || *out.TagList[1].Value != "" {
		t.Errorf("SDK decoded %+v", out.TagList)
	}
}

func TestSDKModelledFault(t *testing.T) {
	_, _, client := newFakeServer(t)
	_, err := client.DeleteUser(context.Background(), &elasticache.DeleteUserInput{UserId: aws.String("ghost")})
	var nf *types.UserNotFoundFault
	if !errors.As(err, &nf) {
		t.Fatalf("err = %v (%T), want *types.UserNotFoundFault", err, err)
	}
	checkAPIError(t, err, "UserNotFound", "User ghost not found.", 404)

	_, err = client.DescribeReplicationGroups(context.Background(), &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String("nope")})
	var rnf *types.ReplicationGroupNotFoundFault
	if !errors.As(err, &rnf) {
		t.Fatalf("err = %v (%T), want *types.ReplicationGroupNotFoundFault", err, err)
	}
	checkAPIError(t, err, "ReplicationGroupNotFoundFault", "ReplicationGroup nope not found.", 404)
}

func TestSDKNotImplemented(t *testing.T) {
	_, _, client := newFakeServer(t)
	_, err := client.DescribeEvents(context.Background(), &elasticache.DescribeEventsInput{})
	checkAPIError(t, err, "NotImplemented", "keyward does not implement DescribeEvents yet.", 501)
}

func TestSDKValidationError(t *testing.T) {
	_, _, client := newFakeServer(t)
	_, err := client.CreateUser(context.Background(), &elasticache.CreateUserInput{
		UserId: aws.String("alice"), UserName: aws.String("alice"), Engine: aws.String("redis"),
		AccessString: aws.String("on"), Passwords: []string{},
	})
	checkAPIError(t, err, "InvalidParameterValue", "The parameter Passwords must contain at least 1 member(s).", 400)
	var ipv *types.InvalidParameterValueException
	if !errors.As(err, &ipv) {
		t.Errorf("err = %T, want *types.InvalidParameterValueException", err)
	}
}

// TestSDKEveryFault returns each fault of the model in turn: the SDK must
// resolve it to its own type for that shape, with the model's code and
// status.
func TestSDKEveryFault(t *testing.T) {
	m := loadModel(t)
	var (
		mu    sync.Mutex
		fault error
	)
	svc := ecapi.ServiceFunc(func(ctx context.Context, op string, in any) (any, error) {
		mu.Lock()
		defer mu.Unlock()
		return nil, fault
	})
	srv := httptest.NewServer(ecapi.NewHandler(svc, awsquery.Options{}))
	defer srv.Close()
	client := newClient(srv.URL)
	n := 0
	for name, s := range m.Shapes {
		if s.Error == nil {
			continue
		}
		n++
		f, ok := ecapi.NewFault(name, "message of "+name)
		if !ok {
			t.Errorf("NewFault(%s) unknown", name)
			continue
		}
		mu.Lock()
		fault = f
		mu.Unlock()
		_, err := client.DeleteUser(context.Background(), &elasticache.DeleteUserInput{UserId: aws.String("u")})
		checkAPIError(t, err, s.Error.Code, "message of "+name, s.Error.HTTPStatusCode)
		var ae smithy.APIError
		if errors.As(err, &ae) {
			if got := reflect.TypeOf(ae).String(); got != "*types."+name {
				t.Errorf("%s: the SDK decoded %s", name, got)
			}
		}
		if f.ErrorFault() != map[bool]string{true: "Sender", false: "Receiver"}[s.Error.SenderFault] {
			t.Errorf("%s: fault %s", name, f.ErrorFault())
		}
	}
	// 76 of botocore 1.43.11 and MigrationHealthFault,
	// ServerlessCacheAlreadyUnderMigrationFault and
	// ServerlessCacheNotUnderMigrationFault of the overlay.
	if n != 79 {
		t.Errorf("%d error shapes in the model, want 79", n)
	}
}

func checkAPIError(t *testing.T, err error, code, msg string, status int) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v (%T), not a smithy.APIError", err, err)
	}
	if ae.ErrorCode() != code || ae.ErrorMessage() != msg {
		t.Errorf("code %q message %q, want %q %q", ae.ErrorCode(), ae.ErrorMessage(), code, msg)
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, not an awshttp.ResponseError", err)
	}
	if re.HTTPStatusCode() != status {
		t.Errorf("%s: status %d, want %d", code, re.HTTPStatusCode(), status)
	}
	if re.ServiceRequestID() == "" {
		t.Errorf("%s: no request id", code)
	}
}
