package api_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"

	"keyward/keywardtest"
)

// TestLiveMigrationOperationsAnswer checks that the two operations the
// aws-sdk-go-v2 overlay added reach the service (migration_test.go tests
// what they do), not an unknown-action error.
func TestLiveMigrationOperationsAnswer(t *testing.T) {
	ts := keywardtest.New(t)
	ctx := context.Background()
	_, err := ts.Client.PrepareMigration(ctx, &elasticache.PrepareMigrationInput{
		ServerlessCacheName:      aws.String("sc1"),
		CustomerNodeEndpointList: []types.CustomerNodeEndpoint{{Address: aws.String("127.0.0.1"), Port: aws.Int32(6379)}},
		SourceTlsConfiguration:   &types.SourceTlsConfiguration{SourceTlsMode: types.TlsModeNone},
	})
	keywardtest.WantError(t, err, "ServerlessCacheNotFoundFault", 404)
	_, err = ts.Client.StopMigration(ctx, &elasticache.StopMigrationInput{ServerlessCacheName: aws.String("sc1")})
	keywardtest.WantError(t, err, "ServerlessCacheNotFoundFault", 404)
}

// TestNewerSDKMembersAreNotDropped: members the overlay added to existing
// operations are read; values keyward cannot honour are refused instead of
// ignored.
func TestNewerSDKMembersAreNotDropped(t *testing.T) {
	ts := keywardtest.New(t)
	ctx := context.Background()
	for _, d := range []types.Durability{types.DurabilitySync, types.DurabilityDisabled, "eventually"} {
		_, err := ts.Client.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
			ReplicationGroupId: aws.String("rg-durable"), ReplicationGroupDescription: aws.String("d"), Durability: d,
		})
		keywardtest.WantError(t, err, "InvalidParameterValue", 400)
		_, err = ts.Client.ModifyReplicationGroup(ctx, &elasticache.ModifyReplicationGroupInput{
			ReplicationGroupId: aws.String("rg-durable"), Durability: d,
		})
		keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	}
	_, err := ts.Client.CreateServerlessCache(ctx, &elasticache.CreateServerlessCacheInput{
		ServerlessCacheName: aws.String("sc-public"), Engine: aws.String("valkey"), ConnectionType: types.ConnectionTypePublic,
	})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	// The accepted values pass the check: the group is then unknown.
	_, err = ts.Client.ModifyReplicationGroup(ctx, &elasticache.ModifyReplicationGroupInput{
		ReplicationGroupId: aws.String("rg-durable"), Durability: types.DurabilityAsync,
	})
	keywardtest.WantError(t, err, "ReplicationGroupNotFoundFault", 404)
}
