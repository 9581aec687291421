package api_test

import (
	"encoding/json"
	"os"
	"regexp"
	"testing"
)

// TestSettingsDoc_CoversModel walks the model's cache request shapes and
// fails if docs/settings.md has no row (member → treatment) for one of
// their members: a member a newer model adds cannot be silently dropped.
func TestSettingsDoc_CoversModel(t *testing.T) {
	shapes := []string{"CreateReplicationGroupMessage", "ModifyReplicationGroupMessage", "CreateServerlessCacheRequest", "ModifyServerlessCacheRequest",
		"CreateCacheClusterMessage", "ModifyCacheClusterMessage",
		"ModifyReplicationGroupShardConfigurationMessage", "IncreaseReplicaCountMessage", "DecreaseReplicaCountMessage", "TestFailoverMessage"}
	type modelFile struct {
		Shapes map[string]struct {
			Members map[string]json.RawMessage `json:"members"`
		} `json:"shapes"`
	}
	var model modelFile
	// The botocore model, then the newer SDK's overlay, whose shapes
	// replace the botocore ones whole.
	for _, f := range []string{"../ecapi/model/service-2.json", "../ecapi/model/aws-sdk-go-v2.json"} {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var m modelFile
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		if model.Shapes == nil {
			model = m
			continue
		}
		for name, sh := range m.Shapes {
			model.Shapes[name] = sh
		}
	}
	doc, err := os.ReadFile("../docs/settings.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^\| (\w+)\.(\w+) \| (\w+) \|`).FindAllStringSubmatch(string(doc), -1) {
		rows[m[1]+"."+m[2]] = m[3]
	}
	for _, shape := range shapes {
		members := model.Shapes[shape].Members
		if len(members) == 0 {
			t.Fatalf("model has no shape %s", shape)
		}
		for m := range members {
			switch tr := rows[shape+"."+m]; tr {
			case "enforced", "stored", "rejected", "identifier":
			case "":
				t.Errorf("docs/settings.md has no row for %s.%s", shape, m)
			default:
				t.Errorf("docs/settings.md: %s.%s has treatment %q", shape, m, tr)
			}
			delete(rows, shape+"."+m)
		}
	}
	for r := range rows {
		t.Errorf("docs/settings.md has a row for %s, which the model does not have", r)
	}
}
