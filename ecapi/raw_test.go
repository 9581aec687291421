package ecapi_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"keyward/awsquery"
	"keyward/ecapi"
)

type errorDoc struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Type    string   `xml:"Error>Type"`
	Code    string   `xml:"Error>Code"`
	Message string   `xml:"Error>Message"`
	ReqID   string   `xml:"RequestId"`
}

type result struct {
	status int
	header http.Header
	body   string
	err    errorDoc // when status is not 200
}

func serve(t *testing.T, h http.Handler, r *http.Request) result {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	res := result{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
	if ct := rec.Header().Get("Content-Type"); ct != "text/xml" {
		t.Errorf("Content-Type %q", ct)
	}
	id := rec.Header().Get("x-amzn-RequestId")
	if len(id) != 36 {
		t.Errorf("x-amzn-RequestId %q", id)
	}
	if !strings.Contains(res.body, "<RequestId>"+id+"</RequestId>") {
		t.Errorf("body lacks the request id %s: %s", id, res.body)
	}
	if rec.Code != http.StatusOK {
		if err := xml.Unmarshal(rec.Body.Bytes(), &res.err); err != nil {
			t.Fatalf("error body %q: %v", res.body, err)
		}
		if res.err.Xmlns != ecapi.XMLNamespace {
			t.Errorf("xmlns %q", res.err.Xmlns)
		}
	}
	return res
}

func post(body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	return r
}

const v = "&Version=2015-02-02"

func TestRawErrors(t *testing.T) {
	h := ecapi.NewHandler(&fake{}, awsquery.Options{MaxBodyBytes: 4096})
	for _, c := range []struct {
		name, body string
		status     int
		code, msg  string // msg: substring
	}{
		{"missing action", "Version=2015-02-02", 400, "MissingAction", "The request must contain the parameter Action."},
		{"empty action", "Action=" + v, 400, "MissingAction", "Action"},
		{"unknown action", "Action=DropEverything" + v, 400, "InvalidAction", "The action DropEverything is not valid for this web service."},
		{"action case", "Action=createuser" + v, 400, "InvalidAction", "createuser"},
		{"missing version", "Action=DescribeUsers", 400, "MissingParameter", "The request must contain the parameter Version."},
		{"wrong version", "Action=DescribeUsers&Version=2014-01-01", 400, "NoSuchVersion", "The requested version (2014-01-01) of service AmazonElastiCache does not exist."},
		{"missing required", "Action=CreateUser" + v + "&UserName=a&Engine=redis&AccessString=on", 400, "MissingParameter", "The request must contain the parameter UserId."},
		{"missing nested required", "Action=DescribeUsers" + v + "&Filters.member.1.Values.member.1=x", 400, "MissingParameter", "The request must contain the parameter Filters.member.1.Name."},
		{"wrong type", "Action=DescribeUsers" + v + "&MaxRecords=abc", 400, "InvalidParameterValue", "Invalid value 'abc' for parameter MaxRecords: expected an integer."},
		{"integer overflow", "Action=DescribeUsers" + v + "&MaxRecords=99999999999", 400, "InvalidParameterValue", "MaxRecords"},
		{"wrong bool", "Action=DeleteReplicationGroup" + v + "&ReplicationGroupId=r&RetainPrimaryCluster=yes", 400, "InvalidParameterValue", "Invalid value 'yes' for parameter RetainPrimaryCluster: expected true or false."},
		{"bad enum", "Action=DescribeUpdateActions" + v + "&ServiceUpdateTimeRange.StartTime=2020-01-01T00:00:00Z&Engine=redis&CacheClusterIds.member.1=a&UpdateActionStatus.member.1=magic", 400, "InvalidParameterValue",
			"Invalid value 'magic' for parameter UpdateActionStatus.member.1. Valid values are: "},
		// ElastiCache's own message where it is known (rbac.md, (O) XP#151).
		{"bad enum, ElastiCache's message", "Action=CreateUser" + v + "&UserId=a&UserName=a&Engine=redis&AccessString=on&AuthenticationMode.Type=magic", 400, "InvalidParameterValue",
			"Input Authentication type: magic is not in the allowed list: [password,no-password-required,iam]"},
		{"bad enum in list", "Action=DescribeServiceUpdates" + v + "&ServiceUpdateStatus.member.1=available&ServiceUpdateStatus.member.2=gone", 400, "InvalidParameterValue", "ServiceUpdateStatus.member.2"},
		{"pattern", "Action=CreateUser" + v + "&UserId=-1&UserName=a&Engine=redis&AccessString=on", 400, "InvalidParameterValue", "Invalid value '-1' for parameter UserId: must match the pattern [a-zA-Z][a-zA-Z0-9\\-]*."},
		{"pattern blank", "Action=CreateUser" + v + "&UserId=a&UserName=a&Engine=redis&AccessString=+++", 400, "InvalidParameterValue", "AccessString"},
		{"too short", "Action=CreateUser" + v + "&UserId=&UserName=a&Engine=redis&AccessString=on", 400, "InvalidParameterValue", "The parameter UserId must be at least 1 characters long."},
		{"too long", "Action=DecreaseReplicaCount" + v + "&ReplicationGroupId=r&ApplyImmediately=true&ReplicaConfiguration.ConfigureShard.1.NodeGroupId=12345&ReplicaConfiguration.ConfigureShard.1.NewReplicaCount=1", 400, "InvalidParameterValue", "The parameter ReplicaConfiguration.ConfigureShard.1.NodeGroupId must be at most 4 characters long."},
		{"empty list under min", "Action=CreateUser" + v + "&UserId=a&UserName=a&Engine=redis&AccessString=on&Passwords=", 400, "InvalidParameterValue", "The parameter Passwords must contain at least 1 member(s)."},
		{"list over max", "Action=DescribeUpdateActions" + v + manyIDs(21), 400, "InvalidParameterValue", "The parameter CacheClusterIds must contain at most 20 member(s)."},
		{"malformed", "Action=DescribeUsers" + v + "&x=%zz", 404, "MalformedQueryString", "syntax error"},
		{"oversize", "Action=DescribeUsers" + v + "&Marker=" + strings.Repeat("m", 5000), 413, "RequestEntityTooLarge", "4096 bytes"},
		{"not implemented", "Action=DescribeEvents" + v, 501, "NotImplemented", "keyward does not implement DescribeEvents yet."},
		{"modelled fault", "Action=DeleteUser" + v + "&UserId=ghost", 404, "UserNotFound", "User ghost not found."},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := serve(t, h, post(c.body))
			if res.status != c.status || res.err.Code != c.code || !strings.Contains(res.err.Message, c.msg) {
				t.Errorf("got %d %s %q, want %d %s %q", res.status, res.err.Code, res.err.Message, c.status, c.code, c.msg)
			}
			wantType := "Sender"
			if c.status >= 500 {
				wantType = "Receiver"
			}
			if res.err.Type != wantType {
				t.Errorf("Type %q, want %q", res.err.Type, wantType)
			}
		})
	}
}

func manyIDs(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		b.WriteString("&CacheClusterIds.member." + strconv.Itoa(i) + "=c" + strconv.Itoa(i))
	}
	return b.String()
}

func TestRawOversizeWithoutContentLength(t *testing.T) {
	h := ecapi.NewHandler(&fake{}, awsquery.Options{MaxBodyBytes: 100})
	r := post("")
	r.Body = io.NopCloser(io.MultiReader(strings.NewReader("Action=DescribeUsers"+v+"&Marker="), strings.NewReader(strings.Repeat("x", 200))))
	r.ContentLength = -1
	if res := serve(t, h, r); res.status != 413 || res.err.Code != "RequestEntityTooLarge" {
		t.Errorf("got %d %s", res.status, res.err.Code)
	}
	// The default limit is 1 MiB.
	h = ecapi.NewHandler(&fake{}, awsquery.Options{})
	if res := serve(t, h, post("Action=DescribeUsers"+v+"&Marker="+strings.Repeat("x", 1<<20))); res.status != 413 {
		t.Errorf("1 MiB body: got %d", res.status)
	}
	if res := serve(t, h, post("Action=DescribeUsers"+v+"&Marker="+strings.Repeat("x", 1<<19))); res.status != 200 {
		t.Errorf("512 KiB body: got %d %s", res.status, res.err.Code)
	}
}

func TestRawMethodsAndContentTypes(t *testing.T) {
	f := &fake{}
	h := ecapi.NewHandler(f, awsquery.Options{})
	// GET with the parameters in the query string.
	res := serve(t, h, httptest.NewRequest(http.MethodGet, "/?Action=DescribeUsers&Version=2015-02-02&UserId=alice&MaxRecords=20", nil))
	if res.status != 200 || !strings.HasPrefix(res.body, `<DescribeUsersResponse xmlns="http://elasticache.amazonaws.com/doc/2015-02-02/"><DescribeUsersResult>`) {
		t.Fatalf("GET: %d %s", res.status, res.body)
	}
	f.mu.Lock()
	if *f.descr.UserId != "alice" || *f.descr.MaxRecords != 20 {
		t.Errorf("GET decoded %+v", f.descr)
	}
	f.mu.Unlock()
	// POST with Version in the query string and the rest in the body.
	r := post("Action=DescribeUsers&UserId=bob")
	r.URL.RawQuery = "Version=2015-02-02"
	if res := serve(t, h, r); res.status != 200 {
		t.Errorf("POST + query: %d %s", res.status, res.body)
	}
	// POST without Content-Type is read as a form.
	r = post("Action=DescribeUsers" + v)
	r.Header.Del("Content-Type")
	if res := serve(t, h, r); res.status != 200 {
		t.Errorf("POST without Content-Type: %d %s", res.status, res.body)
	}
	r = post(`{"Action":"DescribeUsers"}`)
	r.Header.Set("Content-Type", "application/json")
	if res := serve(t, h, r); res.status != 415 || res.err.Code != "UnsupportedMediaType" {
		t.Errorf("JSON body: %d %s", res.status, res.err.Code)
	}
	res = serve(t, h, httptest.NewRequest(http.MethodPut, "/?Action=DescribeUsers&Version=2015-02-02", nil))
	if res.status != 405 || res.err.Code != "MethodNotAllowed" || res.header.Get("Allow") != "GET, POST" {
		t.Errorf("PUT: %d %s %v", res.status, res.err.Code, res.header)
	}
}

func TestRawBodyReadTwice(t *testing.T) {
	// The SigV4 middleware reads the body with ParseForm before the handler;
	// the handler must see the same parameters.
	h := ecapi.NewHandler(&fake{}, awsquery.Options{})
	mw := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		vals, err := awsquery.ParseForm(r, 0)
		if err != nil || vals.Get("Action") != "DescribeUsers" {
			t.Errorf("middleware ParseForm: %v %v", vals, err)
		}
		h.ServeHTTP(w, r)
	})
	if res := serve(t, mw, post("Action=DescribeUsers"+v)); res.status != 200 {
		t.Errorf("%d %s", res.status, res.body)
	}
}

func TestRawScalars(t *testing.T) {
	var (
		mu  sync.Mutex
		got any
	)
	h := ecapi.NewHandler(ecapi.ServiceFunc(func(ctx context.Context, op string, in any) (any, error) {
		mu.Lock()
		defer mu.Unlock()
		got = in
		return nil, nil
	}), awsquery.Options{})
	res := serve(t, h, post("Action=DescribeEvents"+v+"&StartTime=2024-01-02T03:04:05.678Z&EndTime=1700000000&Duration=60&MaxRecords=%2B7"))
	if res.status != 200 || !strings.Contains(res.body, "<DescribeEventsResult></DescribeEventsResult>") {
		t.Fatalf("%d %s", res.status, res.body)
	}
	mu.Lock()
	in := got.(*ecapi.DescribeEventsMessage)
	mu.Unlock()
	if !in.StartTime.Equal(time.Date(2024, 1, 2, 3, 4, 5, 678e6, time.UTC)) || !in.EndTime.Equal(time.Unix(1700000000, 0)) ||
		*in.Duration != 60 || *in.MaxRecords != 7 {
		t.Errorf("decoded %+v", in)
	}
	res = serve(t, h, post("Action=DescribeEvents"+v+"&StartTime=yesterday"))
	if res.status != 400 || !strings.Contains(res.err.Message, "StartTime") {
		t.Errorf("bad timestamp: %d %s", res.status, res.err.Message)
	}
	// Booleans in any case; an empty list as a bare "Name=".
	serve(t, h, post("Action=CreateUser"+v+"&UserId=a&UserName=a&Engine=redis&AccessString=on&NoPasswordRequired=TRUE&Tags="))
	mu.Lock()
	cu := got.(*ecapi.CreateUserMessage)
	mu.Unlock()
	if !*cu.NoPasswordRequired || cu.Tags == nil || len(cu.Tags) != 0 || cu.Passwords != nil {
		t.Errorf("decoded %+v", cu)
	}
	// List indices start at 1 and stop at the first gap.
	serve(t, h, post("Action=DescribeUpdateActions"+v+"&CacheClusterIds.member.1=a&CacheClusterIds.member.2=b&CacheClusterIds.member.4=d"))
	mu.Lock()
	ua := got.(*ecapi.DescribeUpdateActionsMessage)
	mu.Unlock()
	if len(ua.CacheClusterIds) != 2 {
		t.Errorf("CacheClusterIds = %v", ua.CacheClusterIds)
	}
}

func TestRawInternalFailures(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	type obs struct {
		action string
		status int
		code   string
	}
	var (
		mu       sync.Mutex
		observed []obs
	)
	h := ecapi.NewHandler(ecapi.ServiceFunc(func(ctx context.Context, op string, in any) (any, error) {
		switch op {
		case "DescribeUsers":
			return nil, errors.New("database password is hunter2")
		case "DescribeUserGroups":
			panic("nil map in the secret store")
		case "DescribeCacheClusters":
			return &ecapi.User{}, nil // wrong output type
		case "DeleteUser":
			return nil, (*ecapi.UserNotFoundFault)(nil)
		}
		return nil, nil
	}), awsquery.Options{Logger: logger, Observe: func(action string, status int, code string, d time.Duration) {
		mu.Lock()
		observed = append(observed, obs{action, status, code})
		mu.Unlock()
	}})
	for _, action := range []string{"DescribeUsers", "DescribeUserGroups", "DescribeCacheClusters"} {
		res := serve(t, h, post("Action="+action+v))
		if res.status != 500 || res.err.Code != "InternalFailure" || res.err.Type != "Receiver" ||
			strings.Contains(res.body, "hunter2") || strings.Contains(res.body, "secret") || strings.Contains(res.body, "ecapi") {
			t.Errorf("%s: %d %s", action, res.status, res.body)
		}
		if !strings.Contains(logs.String(), res.err.ReqID) {
			t.Errorf("%s: request id %s not logged", action, res.err.ReqID)
		}
	}
	for _, want := range []string{"hunter2", "nil map in the secret store", "goroutine", "want *ecapi.CacheClusterMessage"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q: %s", want, logs.String())
		}
	}
	// A nil fault pointer is still a fault.
	if res := serve(t, h, post("Action=DeleteUser"+v+"&UserId=x")); res.status != 404 || res.err.Code != "UserNotFound" {
		t.Errorf("nil fault: %d %s", res.status, res.body)
	}
	serve(t, h, post("Action=Nope"+v))
	serve(t, h, post("Action=DescribeEvents"+v))
	mu.Lock()
	defer mu.Unlock()
	want := []obs{{"DescribeUsers", 500, "InternalFailure"}, {"DescribeUserGroups", 500, "InternalFailure"},
		{"DescribeCacheClusters", 500, "InternalFailure"}, {"DeleteUser", 404, "UserNotFound"}, {"", 400, "InvalidAction"}, {"DescribeEvents", 200, ""}}
	if len(observed) != len(want) {
		t.Fatalf("observed %v", observed)
	}
	for i := range want {
		if observed[i] != want[i] {
			t.Errorf("observed[%d] = %v, want %v", i, observed[i], want[i])
		}
	}
}

func TestRawEmptyAndNilLists(t *testing.T) {
	h := ecapi.NewHandler(ecapi.ServiceFunc(func(ctx context.Context, op string, in any) (any, error) {
		return &ecapi.DescribeUsersResult{Users: []ecapi.User{
			{UserId: aws.String("a"), UserGroupIds: []string{}},
			{UserId: aws.String("b")},
		}}, nil
	}), awsquery.Options{})
	res := serve(t, h, post("Action=DescribeUsers"+v))
	want := "<DescribeUsersResult><Users><member><UserId>a</UserId><UserGroupIds></UserGroupIds></member><member><UserId>b</UserId></member></Users></DescribeUsersResult>"
	if !strings.Contains(res.body, want) {
		t.Errorf("got %s\nwant %s", res.body, want)
	}
}

func TestRawEscaping(t *testing.T) {
	// Output escaping: what a service returns (not what it was sent: input
	// with NUL or invalid UTF-8 is refused, see below).
	name := "<x> & \"y\" 'z'\r\n\tü\x00\xff"
	h := ecapi.NewHandler(ecapi.ServiceFunc(func(ctx context.Context, op string, in any) (any, error) {
		return &ecapi.User{UserName: aws.String(name)}, nil
	}), awsquery.Options{})
	if res := serve(t, h, post("Action=CreateUser"+v+"&UserId=a&Engine=redis&AccessString=on&UserName="+url.QueryEscape(name))); !strings.Contains(res.body, "<Code>InvalidParameterValue</Code>") {
		t.Errorf("input with NUL and invalid UTF-8: %s", res.body)
	}
	res := serve(t, h, post("Action=CreateUser"+v+"&UserId=a&Engine=redis&AccessString=on&UserName=x"))
	var doc struct {
		Name string `xml:"CreateUserResult>UserName"`
	}
	if err := xml.Unmarshal([]byte(res.body), &doc); err != nil {
		t.Fatalf("%v: %s", err, res.body)
	}
	if want := "<x> & \"y\" 'z'\r\n\tü\uFFFD\uFFFD"; doc.Name != want {
		t.Errorf("UserName = %q, want %q", doc.Name, want)
	}
}

func TestOperationsSorted(t *testing.T) {
	m := loadModel(t)
	if len(ecapi.Operations) != len(m.Operations) {
		t.Fatalf("%d operations, model has %d", len(ecapi.Operations), len(m.Operations))
	}
	for i, op := range ecapi.Operations {
		if i > 0 && ecapi.Operations[i-1] >= op {
			t.Errorf("Operations not sorted at %s", op)
		}
		if _, ok := m.Operations[op]; !ok {
			t.Errorf("%s not in the model", op)
		}
	}
}
