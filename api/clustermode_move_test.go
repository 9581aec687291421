package api_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"

	"keyward/keywardtest"
	"keyward/server"
)

// The move of a cluster-mode-disabled group to cluster mode is refused:
// first for ElastiCache's own reasons (straight to enabled without
// compatible; no automatic failover or no replica), then, for a request
// ElastiCache would accept, because keyward does not make the move real.
// Nothing changes in any case; enabled never goes back.
func TestReplicationGroup_ClusterModeMove(t *testing.T) {
	ts := keywardtest.New(t, func(c *server.Config) { c.NoEngine = true })
	c, ctx := ts.Client, t.Context()
	create := func(id string, in elasticache.CreateReplicationGroupInput) {
		t.Helper()
		in.ReplicationGroupId, in.ReplicationGroupDescription = aws.String(id), aws.String("move")
		if _, err := c.CreateReplicationGroup(ctx, &in); err != nil {
			t.Fatal(err)
		}
		waitRG(t, c, id, "available")
	}
	modify := func(id string, mode types.ClusterMode) error {
		_, err := c.ModifyReplicationGroup(ctx, &elasticache.ModifyReplicationGroupInput{ReplicationGroupId: aws.String(id), ClusterMode: mode, ApplyImmediately: aws.Bool(true)})
		return err
	}
	create("single", elasticache.CreateReplicationGroupInput{})
	create("ha", elasticache.CreateReplicationGroupInput{NumCacheClusters: aws.Int32(2), AutomaticFailoverEnabled: aws.Bool(true)})
	create("cme", elasticache.CreateReplicationGroupInput{NumNodeGroups: aws.Int32(2)})

	keywardtest.WantError(t, modify("ha", types.ClusterModeEnabled), "InvalidParameterCombination", 400)
	keywardtest.WantError(t, modify("single", types.ClusterModeCompatible), "InvalidParameterCombination", 400)
	keywardtest.WantError(t, modify("ha", types.ClusterModeCompatible), "InvalidParameterValue", 400)
	keywardtest.WantError(t, modify("cme", types.ClusterModeDisabled), "InvalidParameterValue", 400)
	keywardtest.WantError(t, modify("cme", types.ClusterModeCompatible), "InvalidParameterValue", 400)
	// The group's own mode is no change ("No modifications were requested").
	keywardtest.WantError(t, modify("ha", types.ClusterModeDisabled), "InvalidParameterCombination", 400)
	for _, id := range []string{"single", "ha"} {
		rg := waitRG(t, c, id, "available")
		if rg.ClusterMode != types.ClusterModeDisabled || rg.ConfigurationEndpoint != nil || aws.ToBool(rg.ClusterEnabled) {
			t.Fatalf("%s after refused moves: mode %s, configuration endpoint %v", id, rg.ClusterMode, rg.ConfigurationEndpoint)
		}
	}
	_, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("compat"), ReplicationGroupDescription: aws.String("c"), ClusterMode: types.ClusterModeCompatible})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
}
