package api

import (
	"slices"
	"strings"

	"keyward"
	"keyward/ecapi"
)

// The settings of caches that keyward stores and reports back exactly as
// ElastiCache does (docs/settings.md lists every request member and what
// becomes of it). Validation answers ElastiCache's faults; what cannot be
// honoured here is refused rather than dropped.

// errCacheSecurityGroups is ElastiCache's answer to CacheSecurityGroupNames
// in an account without EC2-Classic.
const errCacheSecurityGroups = "Use of cache security groups is not permitted in this API version for your account."

// defaultParameterGroup names the built-in parameter group of an engine
// version, as ElastiCache reports it (default.redis7, default.redis6.x,
// default.valkey8): default.<family> from the catalogue.
func defaultParameterGroup(e keyward.Engine, version string) string {
	if f := familyOf(e, version); f != "" {
		return "default." + f
	}
	return "default." + string(e) + majorVersion(version)
}

// checkWindows validates the snapshot and maintenance windows of s.
func checkWindows(s *keyward.CacheSettings) error {
	snap, err := keyward.ParseSnapshotWindow(s.SnapshotWindow)
	if err != nil {
		return err
	}
	var maint [2]int
	if s.PreferredMaintenanceWindow, maint, err = keyward.ParseMaintenanceWindow(s.PreferredMaintenanceWindow); err != nil {
		return err
	}
	if keyward.WindowsOverlap(snap, maint) {
		return keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup,
			"The snapshot window %s and the maintenance window %s overlap.", s.SnapshotWindow, s.PreferredMaintenanceWindow)
	}
	return nil
}

// logDelivery converts log delivery requests; disabled ones are dropped
// from the list, as ElastiCache removes them.
func logDelivery(reqs []ecapi.LogDeliveryConfigurationRequest, cur []keyward.LogDelivery) ([]keyward.LogDelivery, error) {
	out := slices.Clone(cur)
	for _, r := range reqs {
		typ := deref(r.LogType)
		if typ != ecapi.LogTypeSlowLog && typ != ecapi.LogTypeEngineLog {
			return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceNone, "Invalid LogType %s: it must be slow-log or engine-log.", keyward.Quote(typ))
		}
		out = slices.DeleteFunc(out, func(l keyward.LogDelivery) bool { return l.LogType == typ })
		if r.Enabled != nil && !*r.Enabled {
			continue
		}
		l := keyward.LogDelivery{LogType: typ, DestinationType: deref(r.DestinationType), LogFormat: deref(r.LogFormat)}
		if d := r.DestinationDetails; d != nil {
			if d.CloudWatchLogsDetails != nil {
				l.LogGroup = deref(d.CloudWatchLogsDetails.LogGroup)
			}
			if d.KinesisFirehoseDetails != nil {
				l.DeliveryStream = deref(d.KinesisFirehoseDetails.DeliveryStream)
			}
		}
		switch {
		case l.DestinationType == ecapi.DestinationTypeCloudwatchLogs && l.LogGroup == "",
			l.DestinationType == ecapi.DestinationTypeKinesisFirehose && l.DeliveryStream == "":
			return nil, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceNone, "The destination details of a %s log delivery to %s are missing.", typ, l.DestinationType)
		case l.DestinationType != ecapi.DestinationTypeCloudwatchLogs && l.DestinationType != ecapi.DestinationTypeKinesisFirehose:
			return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceNone, "Invalid DestinationType %s: it must be cloudwatch-logs or kinesis-firehose.", keyward.Quote(l.DestinationType))
		case l.LogFormat != ecapi.LogFormatText && l.LogFormat != ecapi.LogFormatJson:
			return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceNone, "Invalid LogFormat %s: it must be text or json.", keyward.Quote(l.LogFormat))
		}
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b keyward.LogDelivery) int { return strings.Compare(a.LogType, b.LogType) })
	return out, nil
}

func logDeliveryToAPI(ls []keyward.LogDelivery) []ecapi.LogDeliveryConfiguration {
	out := []ecapi.LogDeliveryConfiguration{}
	for _, l := range ls {
		d := &ecapi.DestinationDetails{}
		if l.LogGroup != "" {
			d.CloudWatchLogsDetails = &ecapi.CloudWatchLogsDestinationDetails{LogGroup: ptr(l.LogGroup)}
		}
		if l.DeliveryStream != "" {
			d.KinesisFirehoseDetails = &ecapi.KinesisFirehoseDestinationDetails{DeliveryStream: ptr(l.DeliveryStream)}
		}
		out = append(out, ecapi.LogDeliveryConfiguration{
			LogType: ptr(l.LogType), DestinationType: ptr(l.DestinationType), DestinationDetails: d,
			LogFormat: ptr(l.LogFormat), Status: ptr(ecapi.LogDeliveryConfigurationStatusActive),
		})
	}
	return out
}

// rgCreateSettings reads the settings of a new replication group of n
// nodes from its request.
func rgCreateSettings(sc keyward.Scope, id string, c *keyward.Cache, in *ecapi.CreateReplicationGroupMessage) (keyward.CacheSettings, error) {
	var s keyward.CacheSettings
	n := c.NumNodes
	if in.Port != nil {
		// Every node listens on it, each on its own loopback address.
		if err := validPort(*in.Port, keyward.ResourceReplicationGroup); err != nil {
			return s, err
		}
		c.Port = int(*in.Port)
	}
	s.AutomaticFailover = deref(in.AutomaticFailoverEnabled)
	s.MultiAZ = deref(in.MultiAZEnabled)
	if s.AutomaticFailover && n < 2 {
		return s, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup,
			"Automatic failover needs at least one replica: NumCacheClusters must be at least 2 when AutomaticFailoverEnabled is true.")
	}
	if s.MultiAZ && !s.AutomaticFailover {
		return s, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup,
			"Multi-AZ requires automatic failover: set AutomaticFailoverEnabled to true.")
	}
	s.AtRestEncryption = deref(in.AtRestEncryptionEnabled)
	if in.KmsKeyId != nil {
		if !s.AtRestEncryption {
			return s, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup, "KmsKeyId requires AtRestEncryptionEnabled.")
		}
		if err := keyward.ValidateKmsKeyID(*in.KmsKeyId); err != nil {
			return s, err
		}
		s.KmsKeyID = *in.KmsKeyId
	}
	if m := deref(in.TransitEncryptionMode); m != "" {
		if !c.TransitEncryption {
			return s, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup, "TransitEncryptionMode requires TransitEncryptionEnabled.")
		}
		if err := checkTransitMode(m); err != nil {
			return s, err
		}
		if m == ecapi.TransitEncryptionModePreferred {
			if err := transitModeChangeable(c); err != nil {
				return s, err
			}
			if in.AuthToken != nil {
				return s, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup, errPreferredAuth)
			}
			if len(in.UserGroupIds) > 0 {
				return s, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup, errNeedsTLS)
			}
			s.TransitEncryptionMode = m
		}
	}
	if in.SnapshotRetentionLimit != nil {
		if err := keyward.ValidateSnapshotRetention(int(*in.SnapshotRetentionLimit)); err != nil {
			return s, err
		}
		s.SnapshotRetentionLimit = int(*in.SnapshotRetentionLimit)
	}
	s.SnapshotWindow, s.PreferredMaintenanceWindow = keyward.DefaultWindows(id)
	if in.SnapshotWindow != nil {
		s.SnapshotWindow = *in.SnapshotWindow
	}
	if in.PreferredMaintenanceWindow != nil {
		s.PreferredMaintenanceWindow = *in.PreferredMaintenanceWindow
	}
	if err := checkWindows(&s); err != nil {
		return s, err
	}
	s.CacheParameterGroupName = rgParameterGroup(c)
	if in.CacheParameterGroupName != nil {
		s.CacheParameterGroupName = *in.CacheParameterGroupName // checked by checkCacheGroups
	}
	s.CacheSubnetGroupName = "default"
	if in.CacheSubnetGroupName != nil {
		s.CacheSubnetGroupName = strings.ToLower(*in.CacheSubnetGroupName) // checked by checkCacheGroups
	}
	if len(in.CacheSecurityGroupNames) > 0 {
		return s, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceNone, errCacheSecurityGroups)
	}
	if err := keyward.ValidateSecurityGroupIDs(in.SecurityGroupIds); err != nil {
		return s, err
	}
	s.SecurityGroupIDs = slices.Clone(in.SecurityGroupIds)
	azs := slices.Clone(in.PreferredCacheClusterAZs)
	if len(in.NodeGroupConfiguration) == 1 {
		ng := in.NodeGroupConfiguration[0]
		if ng.PrimaryAvailabilityZone != nil {
			azs = append([]string{*ng.PrimaryAvailabilityZone}, ng.ReplicaAvailabilityZones...)
		}
	}
	if len(azs) > 0 && len(azs) != n {
		return s, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup,
			"The number of PreferredCacheClusterAZs (%d) must equal the number of cache clusters (%d).", len(azs), n)
	}
	for _, az := range azs {
		if err := keyward.ValidateAZ(sc.Region, az); err != nil {
			return s, err
		}
	}
	s.PreferredAZs = azs
	if in.NotificationTopicArn != nil {
		if err := keyward.ValidateTopicARN(*in.NotificationTopicArn); err != nil {
			return s, err
		}
		s.NotificationTopicARN, s.NotificationTopicStatus = *in.NotificationTopicArn, "active"
	}
	var err error
	if s.LogDelivery, err = logDelivery(in.LogDeliveryConfigurations, nil); err != nil {
		return s, err
	}
	s.NoAutoMinorVersionUpgrade = in.AutoMinorVersionUpgrade != nil && !*in.AutoMinorVersionUpgrade
	if deref(in.DataTieringEnabled) {
		if !strings.HasPrefix(c.CacheNodeType, "cache.r6gd.") {
			return s, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup, "Data tiering is supported only for the r6gd node types.")
		}
		s.DataTiering = true
	}
	if s.NetworkType, err = networkType(in.NetworkType); err != nil {
		return s, err
	}
	if s.IPDiscovery, err = networkType(in.IpDiscovery); err != nil {
		return s, err
	}
	return s, nil
}

// networkType accepts ipv4, the only network nodes on loopback have.
func networkType(v *string) (string, error) {
	switch deref(v) {
	case "", ecapi.NetworkTypeIpv4:
		return ecapi.NetworkTypeIpv4, nil
	}
	return "", keyward.Errorf(keyward.EINVALID, keyward.ResourceNone,
		"Network type %s needs subnets with IPv6 addresses; keyward's nodes have IPv4 addresses only.", keyward.Quote(deref(v)))
}

// rgModifySettings applies a ModifyReplicationGroup's settings to c. It
// reports whether anything changed and whether the change must go through
// the reconciler (status modifying).
func rgModifySettings(c *keyward.Cache, in *ecapi.ModifyReplicationGroupMessage) (changed, async bool, err error) {
	s := c.Settings.Clone().Effective(c.ID)
	set := func(dst *string, v *string) {
		if v != nil && *v != *dst {
			*dst, changed = *v, true
		}
	}
	if in.AutomaticFailoverEnabled != nil && *in.AutomaticFailoverEnabled != s.AutomaticFailover {
		s.AutomaticFailover, changed = *in.AutomaticFailoverEnabled, true
	}
	if in.MultiAZEnabled != nil && *in.MultiAZEnabled != s.MultiAZ {
		s.MultiAZ, changed = *in.MultiAZEnabled, true
	}
	if s.AutomaticFailover && c.NumNodes < 2 {
		return false, false, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup,
			"Automatic failover needs at least one replica: add a replica before enabling it.")
	}
	if s.MultiAZ && !s.AutomaticFailover {
		return false, false, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup,
			"Multi-AZ requires automatic failover: set AutomaticFailoverEnabled to true.")
	}
	if len(in.CacheSecurityGroupNames) > 0 {
		return false, false, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceNone, errCacheSecurityGroups)
	}
	if in.SecurityGroupIds != nil {
		if err := keyward.ValidateSecurityGroupIDs(in.SecurityGroupIds); err != nil {
			return false, false, err
		}
		if !slices.Equal(in.SecurityGroupIds, s.SecurityGroupIDs) {
			s.SecurityGroupIDs, changed = slices.Clone(in.SecurityGroupIds), true
		}
	}
	set(&s.PreferredMaintenanceWindow, in.PreferredMaintenanceWindow)
	set(&s.SnapshotWindow, in.SnapshotWindow)
	if err := checkWindows(&s); err != nil {
		return false, false, err
	}
	if in.SnapshotRetentionLimit != nil {
		if err := keyward.ValidateSnapshotRetention(int(*in.SnapshotRetentionLimit)); err != nil {
			return false, false, err
		}
		if int(*in.SnapshotRetentionLimit) != s.SnapshotRetentionLimit {
			s.SnapshotRetentionLimit, changed = int(*in.SnapshotRetentionLimit), true
		}
	}
	if in.SnapshottingClusterId != nil {
		cid := strings.ToLower(*in.SnapshottingClusterId)
		if !slices.ContainsFunc(c.Nodes, func(n keyward.CacheNode) bool { return n.ClusterID == cid }) {
			return false, false, keyward.Errorf(keyward.ENOTFOUND, keyward.ResourceCacheCluster, "CacheCluster %s not found.", cid)
		}
		set(&s.SnapshottingClusterID, &cid)
	}
	if in.NotificationTopicArn != nil {
		if err := keyward.ValidateTopicARN(*in.NotificationTopicArn); err != nil {
			return false, false, err
		}
		set(&s.NotificationTopicARN, in.NotificationTopicArn)
		if s.NotificationTopicStatus == "" {
			s.NotificationTopicStatus = "active"
		}
	}
	if v := in.NotificationTopicStatus; v != nil {
		if *v != "active" && *v != "inactive" {
			return false, false, keyward.Errorf(keyward.EINVALID, keyward.ResourceNone, "Invalid NotificationTopicStatus %s: it must be active or inactive.", keyward.Quote(*v))
		}
		set(&s.NotificationTopicStatus, v)
	}
	if in.CacheParameterGroupName != nil {
		set(&s.CacheParameterGroupName, in.CacheParameterGroupName) // checked by checkCacheGroups
	}
	if in.AutoMinorVersionUpgrade != nil && !*in.AutoMinorVersionUpgrade != s.NoAutoMinorVersionUpgrade {
		s.NoAutoMinorVersionUpgrade, changed = !*in.AutoMinorVersionUpgrade, true
	}
	if len(in.LogDeliveryConfigurations) > 0 {
		ls, err := logDelivery(in.LogDeliveryConfigurations, s.LogDelivery)
		if err != nil {
			return false, false, err
		}
		if !slices.Equal(ls, s.LogDelivery) {
			s.LogDelivery, changed = ls, true
		}
	}
	if in.IpDiscovery != nil {
		if _, err := networkType(in.IpDiscovery); err != nil {
			return false, false, err
		}
	}
	if tls, mode, err := transitModify(c, &s, in); err != nil {
		return false, false, err
	} else if tls != c.TransitEncryption || mode != s.TransitEncryptionMode {
		c.TransitEncryption, s.TransitEncryptionMode, changed, async = tls, mode, true, true
	}
	mode := ecapi.ClusterModeDisabled
	if c.ClusterMode {
		mode = ecapi.ClusterModeEnabled
	}
	if v := deref(in.ClusterMode); v != "" && !strings.EqualFold(v, mode) {
		if c.ClusterMode {
			// ElastiCache moves only towards cluster mode, never back.
			return false, false, keyward.Errorf(keyward.EINVALID, keyward.ResourceReplicationGroup,
				"Cluster mode cannot be changed from enabled to %s.", strings.ToLower(v))
		}
		return false, false, clusterModeMove(c, v)
	}
	if in.Engine != nil && !strings.EqualFold(*in.Engine, string(c.Engine)) {
		return false, false, keyward.Errorf(keyward.EINVALID, keyward.ResourceReplicationGroup,
			"Changing the engine of a running replication group is not supported by keyward.")
	}
	// An engine upgrade applies now (status modifying; the nodes already
	// run a binary that serves the new version, see servedVersions) or
	// waits in the clusters' PendingModifiedValues, as ElastiCache keeps it
	// for the maintenance window; naming the current version again drops a
	// pending one.
	if v := deref(in.EngineVersion); in.EngineVersion != nil && v != c.EngineVersion {
		if err := checkUpgrade(c.Engine, c.EngineVersion, v); err != nil {
			return false, false, err
		}
		switch {
		case deref(in.ApplyImmediately):
			c.EngineVersion, s.PendingEngineVersion, changed, async = v, "", true, true
		case v != s.PendingEngineVersion:
			s.PendingEngineVersion, changed = v, true
		}
	} else if in.EngineVersion != nil && s.PendingEngineVersion != "" {
		s.PendingEngineVersion, changed = "", true
	}
	// A node type change applies now through the reconciler, or waits in
	// PendingModifiedValues, as ElastiCache keeps it for the maintenance
	// window.
	if v := deref(in.CacheNodeType); v != "" && v != c.CacheNodeType {
		// keyward sizes maxmemory from the type: an unknown one is refused.
		if err := checkNodeType(c.Engine, v); err != nil {
			return false, false, err
		}
		if deref(in.ApplyImmediately) {
			c.CacheNodeType, s.PendingCacheNodeType, async = v, "", true
		} else {
			s.PendingCacheNodeType = v
		}
		changed = true
	}
	c.Settings = s
	return changed, async, nil
}

// usageLimits validates a serverless cache's CacheUsageLimits. Zero
// values leave a limit unset; all zeros (or nil) remove the limits.
func usageLimits(in *ecapi.CacheUsageLimits) (*keyward.CacheUsageLimits, error) {
	if in == nil {
		return nil, nil
	}
	var u keyward.CacheUsageLimits
	if d := in.DataStorage; d != nil {
		u.DataStorageMax, u.DataStorageMin, u.DataStorageUnit = int(deref(d.Maximum)), int(deref(d.Minimum)), deref(d.Unit)
		if u.DataStorageUnit != ecapi.DataStorageUnitGb {
			return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceServerlessCache, "Invalid DataStorage unit %s: it must be GB.", keyward.Quote(u.DataStorageUnit))
		}
		for _, v := range []int{u.DataStorageMax, u.DataStorageMin} {
			if v != 0 && (v < 1 || v > 5000) {
				return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceServerlessCache, "DataStorage limits must be between 1 and 5000 GB.")
			}
		}
		if u.DataStorageMax != 0 && u.DataStorageMin > u.DataStorageMax {
			return nil, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceServerlessCache, "The DataStorage minimum cannot exceed its maximum.")
		}
	}
	if e := in.ECPUPerSecond; e != nil {
		u.ECPUMax, u.ECPUMin = int(deref(e.Maximum)), int(deref(e.Minimum))
		for _, v := range []int{u.ECPUMax, u.ECPUMin} {
			if v != 0 && (v < 1000 || v > 15000000) {
				return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceServerlessCache, "ECPUPerSecond limits must be between 1000 and 15000000.")
			}
		}
		if u.ECPUMax != 0 && u.ECPUMin > u.ECPUMax {
			return nil, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceServerlessCache, "The ECPUPerSecond minimum cannot exceed its maximum.")
		}
	}
	if u == (keyward.CacheUsageLimits{DataStorageUnit: u.DataStorageUnit}) {
		return nil, nil
	}
	return &u, nil
}

func usageLimitsToAPI(u *keyward.CacheUsageLimits) *ecapi.CacheUsageLimits {
	if u == nil {
		return nil
	}
	out := &ecapi.CacheUsageLimits{}
	if u.DataStorageMax != 0 || u.DataStorageMin != 0 {
		out.DataStorage = &ecapi.DataStorage{Unit: ptr(orDefault(u.DataStorageUnit, ecapi.DataStorageUnitGb))}
		if u.DataStorageMax != 0 {
			out.DataStorage.Maximum = ptr(int32(u.DataStorageMax))
		}
		if u.DataStorageMin != 0 {
			out.DataStorage.Minimum = ptr(int32(u.DataStorageMin))
		}
	}
	if u.ECPUMax != 0 || u.ECPUMin != 0 {
		out.ECPUPerSecond = &ecapi.ECPUPerSecond{}
		if u.ECPUMax != 0 {
			out.ECPUPerSecond.Maximum = ptr(int32(u.ECPUMax))
		}
		if u.ECPUMin != 0 {
			out.ECPUPerSecond.Minimum = ptr(int32(u.ECPUMin))
		}
	}
	return out
}

// serverlessSettings reads or changes the settings a serverless cache
// shares between create and modify; it reports whether anything changed.
func serverlessSettings(s *keyward.CacheSettings, limits *ecapi.CacheUsageLimits, snapshotTime *string, retention *int32, sgs []string) (bool, error) {
	changed := false
	if limits != nil {
		u, err := usageLimits(limits)
		if err != nil {
			return false, err
		}
		if (u == nil) != (s.UsageLimits == nil) || u != nil && *u != *s.UsageLimits {
			s.UsageLimits, changed = u, true
		}
	}
	if snapshotTime != nil {
		if err := keyward.ValidateClock(*snapshotTime); err != nil {
			return false, err
		}
		if *snapshotTime != s.DailySnapshotTime {
			s.DailySnapshotTime, changed = *snapshotTime, true
		}
	}
	if retention != nil {
		if err := keyward.ValidateSnapshotRetention(int(*retention)); err != nil {
			return false, err
		}
		if int(*retention) != s.SnapshotRetentionLimit {
			s.SnapshotRetentionLimit, changed = int(*retention), true
		}
	}
	if sgs != nil {
		if err := keyward.ValidateSecurityGroupIDs(sgs); err != nil {
			return false, err
		}
		if !slices.Equal(sgs, s.SecurityGroupIDs) {
			s.SecurityGroupIDs, changed = slices.Clone(sgs), true
		}
	}
	return changed, nil
}

// errPreferredAuth is ElastiCache's refusal of TransitEncryptionMode
// preferred on a group that has an AUTH token (docs/transit-encryption.md).
const errPreferredAuth = "Transit encryption preferred is not supported with redis access control."

// checkTransitMode validates a TransitEncryptionMode value.
func checkTransitMode(m string) error {
	if m != ecapi.TransitEncryptionModePreferred && m != ecapi.TransitEncryptionModeRequired {
		return keyward.Errorf(keyward.EINVALID, keyward.ResourceReplicationGroup,
			"Invalid TransitEncryptionMode %s: valid values are preferred and required.", keyward.Quote(m))
	}
	return nil
}

// transitModeChangeable refuses groups whose in-transit encryption cannot
// move through mode preferred: ElastiCache allows it from Redis OSS 7.0.5
// (and every Valkey version), in either cluster mode, not on a member of a
// global datastore.
func transitModeChangeable(c *keyward.Cache) error {
	v := c.EngineVersion
	if strings.Count(v, ".") == 1 {
		v += ".99" // a major.minor version names its newest patch (ElastiCache's 7.0 runs 7.0.7)
	}
	if c.Engine == keyward.EngineRedis && keyward.MaxEngineVersion(v, "7.0.5") != v {
		return keyward.Errorf(keyward.EINVALID, keyward.ResourceReplicationGroup,
			"In-transit encryption can be modified only on Redis OSS 7.0.5 and above (this group runs %s).", c.EngineVersion)
	}
	if c.Global != nil {
		return keyward.Errorf(keyward.EINVALID, keyward.ResourceReplicationGroup,
			"Transit encryption mode preferred is not supported for a member of a global replication group.")
	}
	return nil
}

// transitModify returns the in-transit encryption (enabled, stored mode:
// "" for required) a ModifyReplicationGroup asks for, checking ElastiCache's
// two-step moves: off → preferred → required, and back the same way.
func transitModify(c *keyward.Cache, s *keyward.CacheSettings, in *ecapi.ModifyReplicationGroupMessage) (bool, string, error) {
	tls, mode := c.TransitEncryption, s.TransitEncryptionMode
	if in.TransitEncryptionEnabled == nil && in.TransitEncryptionMode == nil {
		return tls, mode, nil
	}
	wantTLS, wantMode := tls, deref(in.TransitEncryptionMode)
	if in.TransitEncryptionEnabled != nil {
		wantTLS = *in.TransitEncryptionEnabled
	}
	if wantMode != "" {
		if err := checkTransitMode(wantMode); err != nil {
			return false, "", err
		}
		if !wantTLS {
			return false, "", keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup, "TransitEncryptionMode requires TransitEncryptionEnabled.")
		}
	}
	cur := ""
	if tls {
		cur = orDefault(mode, ecapi.TransitEncryptionModeRequired)
	}
	next := "" // the mode wanted, "" for disabled; required is an enabled group's default
	if wantTLS {
		next = orDefault(wantMode, orDefault(cur, ecapi.TransitEncryptionModeRequired))
	}
	if next == cur {
		return tls, mode, nil
	}
	if err := transitModeChangeable(c); err != nil {
		return false, "", err
	}
	if !deref(in.ApplyImmediately) {
		return false, "", keyward.Errorf(keyward.EINVALID, keyward.ResourceReplicationGroup,
			"Transit encryption modification should be called with applied immediately option.")
	}
	if len(c.UserGroupIDs) > 0 {
		return false, "", keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup,
			"Modification of transit encryption is not supported for access control enabled clusters.")
	}
	switch {
	case cur == "" && next != ecapi.TransitEncryptionModePreferred:
		return false, "", keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup,
			"TransitEncryptionMode must be set to preferred when enabling in-transit encryption on an existing replication group; set it to required afterwards.")
	case next == "" && cur != ecapi.TransitEncryptionModePreferred:
		return false, "", keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup,
			"TransitEncryptionMode must be set to preferred before in-transit encryption can be disabled.")
	case next == ecapi.TransitEncryptionModePreferred && c.AuthTokenEnabled():
		return false, "", keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceReplicationGroup, errPreferredAuth)
	}
	if next == ecapi.TransitEncryptionModeRequired {
		next = "" // required is what an enabled group without a mode serves
	}
	return wantTLS, next, nil
}
