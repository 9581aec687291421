package keyward

import (
	"fmt"
	"hash/fnv"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// CacheSettings are the configuration a cache was created or modified
// with, kept so that every Describe reports it as ElastiCache does (a
// Terraform plan after apply must be empty). docs/settings.md says, member
// by member, which are enforced on the nodes and which are only stored.
type CacheSettings struct {
	AutomaticFailover          bool              `json:"automatic_failover,omitempty"`
	MultiAZ                    bool              `json:"multi_az,omitempty"`
	AtRestEncryption           bool              `json:"at_rest_encryption,omitempty"`
	KmsKeyID                   string            `json:"kms_key_id,omitempty"`
	TransitEncryptionMode      string            `json:"transit_encryption_mode,omitempty"`
	SnapshotRetentionLimit     int               `json:"snapshot_retention_limit,omitempty"`
	SnapshotWindow             string            `json:"snapshot_window,omitempty"`
	SnapshottingClusterID      string            `json:"snapshotting_cluster_id,omitempty"`
	PreferredMaintenanceWindow string            `json:"preferred_maintenance_window,omitempty"`
	CacheParameterGroupName    string            `json:"cache_parameter_group_name,omitempty"`
	CacheSubnetGroupName       string            `json:"cache_subnet_group_name,omitempty"`
	SecurityGroupIDs           []string          `json:"security_group_ids,omitempty"`
	SubnetIDs                  []string          `json:"subnet_ids,omitempty"`
	PreferredAZs               []string          `json:"preferred_azs,omitempty"`
	NotificationTopicARN       string            `json:"notification_topic_arn,omitempty"`
	NotificationTopicStatus    string            `json:"notification_topic_status,omitempty"`
	LogDelivery                []LogDelivery     `json:"log_delivery,omitempty"`
	NoAutoMinorVersionUpgrade  bool              `json:"no_auto_minor_version_upgrade,omitempty"`
	DataTiering                bool              `json:"data_tiering,omitempty"`
	NetworkType                string            `json:"network_type,omitempty"`
	IPDiscovery                string            `json:"ip_discovery,omitempty"`
	DailySnapshotTime          string            `json:"daily_snapshot_time,omitempty"`
	UsageLimits                *CacheUsageLimits `json:"usage_limits,omitempty"`
	// PendingCacheNodeType holds a node type change accepted without
	// ApplyImmediately, shown in the clusters' PendingModifiedValues.
	PendingCacheNodeType string `json:"pending_cache_node_type,omitempty"`
	// PendingEngineVersion holds an engine upgrade accepted without
	// ApplyImmediately, shown in the clusters' PendingModifiedValues.
	PendingEngineVersion string `json:"pending_engine_version,omitempty"`
	// PendingPrimaryClusterID holds a ModifyReplicationGroup
	// PrimaryClusterId accepted without ApplyImmediately, shown in the
	// group's PendingModifiedValues.
	PendingPrimaryClusterID string `json:"pending_primary_cluster_id,omitempty"`
}

// LogDelivery is one log delivery configuration (slow-log or engine-log).
type LogDelivery struct {
	LogType         string `json:"log_type"`
	DestinationType string `json:"destination_type"`
	LogGroup        string `json:"log_group,omitempty"`
	DeliveryStream  string `json:"delivery_stream,omitempty"`
	LogFormat       string `json:"log_format"`
}

// CacheUsageLimits are a serverless cache's limits; zero means unset.
type CacheUsageLimits struct {
	DataStorageMax  int    `json:"data_storage_max,omitempty"`
	DataStorageMin  int    `json:"data_storage_min,omitempty"`
	DataStorageUnit string `json:"data_storage_unit,omitempty"`
	ECPUMax         int    `json:"ecpu_max,omitempty"`
	ECPUMin         int    `json:"ecpu_min,omitempty"`
}

// Effective returns the settings of cache id with what an earlier release
// did not store filled in as a new cache would get it: the windows.
func (s CacheSettings) Effective(id string) CacheSettings {
	if s.SnapshotWindow == "" && s.PreferredMaintenanceWindow == "" {
		s.SnapshotWindow, s.PreferredMaintenanceWindow = DefaultWindows(id)
	}
	return s
}

// Clone returns a deep copy.
func (s CacheSettings) Clone() CacheSettings {
	c := s
	c.SecurityGroupIDs = append([]string(nil), s.SecurityGroupIDs...)
	c.SubnetIDs = append([]string(nil), s.SubnetIDs...)
	c.PreferredAZs = append([]string(nil), s.PreferredAZs...)
	c.LogDelivery = append([]LogDelivery(nil), s.LogDelivery...)
	if s.UsageLimits != nil {
		u := *s.UsageLimits
		c.UsageLimits = &u
	}
	return c
}

var days = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// DefaultWindows picks a cache's snapshot and maintenance windows when the
// caller names none: ElastiCache assigns 60-minute windows from a block per
// region; keyward derives them from the cache id, so they are stable, and
// never overlapping (snapshots in the early morning, maintenance late on a
// weekday evening).
func DefaultWindows(id string) (snapshot, maintenance string) {
	h := fnv.New32a()
	h.Write([]byte(id))
	n := int(h.Sum32() & 0x7fffffff)
	hour := 3 + n%4 // 03:00 to 06:00
	day := days[n/4%7]
	snapshot = fmt.Sprintf("%02d:00-%02d:00", hour, hour+1)
	maintenance = day + ":22:00-" + day + ":23:00"
	return snapshot, maintenance
}

var (
	maintenanceWindowPattern = regexp.MustCompile(`^([a-zA-Z]{3}):(\d{2}):(\d{2})-([a-zA-Z]{3}):(\d{2}):(\d{2})$`)
	snapshotWindowPattern    = regexp.MustCompile(`^(\d{2}):(\d{2})-(\d{2}):(\d{2})$`)
	clockPattern             = regexp.MustCompile(`^(\d{2}):(\d{2})$`)
)

// minuteOfDay parses hh and mm, or reports false.
func minuteOfDay(hh, mm string) (int, bool) {
	h, _ := strconv.Atoi(hh)
	m, _ := strconv.Atoi(mm)
	return h*60 + m, h < 24 && m < 60
}

// ParseMaintenanceWindow checks ElastiCache's ddd:hh24:mi-ddd:hh24:mi
// (UTC, at least 60 minutes) and returns it lower-cased with its start and
// end as minutes of the week.
func ParseMaintenanceWindow(w string) (string, [2]int, error) {
	bad := Errorf(EINVALID, ResourceNone, "Invalid maintenance window %s: it must be ddd:hh24:mi-ddd:hh24:mi (UTC) and last at least 60 minutes.", Quote(w))
	m := maintenanceWindowPattern.FindStringSubmatch(w)
	if m == nil {
		return "", [2]int{}, bad
	}
	var span [2]int
	for i, part := range [][3]string{{m[1], m[2], m[3]}, {m[4], m[5], m[6]}} {
		d := slices.Index(days, strings.ToLower(part[0]))
		min, ok := minuteOfDay(part[1], part[2])
		if d < 0 || !ok {
			return "", [2]int{}, bad
		}
		span[i] = d*24*60 + min
	}
	length := (span[1] - span[0] + 7*24*60) % (7 * 24 * 60)
	if length < 60 || length > 24*60 {
		return "", [2]int{}, bad
	}
	return strings.ToLower(w), span, nil
}

// ParseSnapshotWindow checks ElastiCache's hh24:mi-hh24:mi (UTC, at least
// 60 minutes) and returns its start and end as minutes of the day.
func ParseSnapshotWindow(w string) ([2]int, error) {
	bad := Errorf(EINVALID, ResourceNone, "Invalid snapshot window %s: it must be hh24:mi-hh24:mi (UTC) and last at least 60 minutes.", Quote(w))
	m := snapshotWindowPattern.FindStringSubmatch(w)
	if m == nil {
		return [2]int{}, bad
	}
	a, ok1 := minuteOfDay(m[1], m[2])
	b, ok2 := minuteOfDay(m[3], m[4])
	if !ok1 || !ok2 || (b-a+24*60)%(24*60) < 60 {
		return [2]int{}, bad
	}
	return [2]int{a, b}, nil
}

// WindowsOverlap reports whether a daily snapshot window meets a weekly
// maintenance window on any day.
func WindowsOverlap(snapshot, maintenance [2]int) bool {
	const week, day = 7 * 24 * 60, 24 * 60
	inMaint := func(t int) bool { return (t-maintenance[0]+week)%week < (maintenance[1]-maintenance[0]+week)%week }
	length := (snapshot[1] - snapshot[0] + day) % day
	for d := range 7 {
		for m := 0; m < length; m++ {
			if inMaint((d*day + snapshot[0] + m) % week) {
				return true
			}
		}
	}
	return false
}

// ValidateClock checks a serverless DailySnapshotTime, hh24:mi.
func ValidateClock(t string) error {
	m := clockPattern.FindStringSubmatch(t)
	if m == nil {
		return Errorf(EINVALID, ResourceNone, "Invalid daily snapshot time %s: it must be hh24:mi (UTC).", Quote(t))
	}
	if _, ok := minuteOfDay(m[1], m[2]); !ok {
		return Errorf(EINVALID, ResourceNone, "Invalid daily snapshot time %s: it must be hh24:mi (UTC).", Quote(t))
	}
	return nil
}

// MaxSnapshotRetention is ElastiCache's limit on SnapshotRetentionLimit.
const MaxSnapshotRetention = 35

// ValidateSnapshotRetention checks 0 to 35 days.
func ValidateSnapshotRetention(n int) error {
	if n < 0 || n > MaxSnapshotRetention {
		return Errorf(EINVALID, ResourceNone, "Invalid SnapshotRetentionLimit %d: it must be between 0 and %d days.", n, MaxSnapshotRetention)
	}
	return nil
}

var (
	securityGroupIDPattern = regexp.MustCompile(`^sg-[0-9a-f]{8}([0-9a-f]{9})?$`)
	subnetIDPattern        = regexp.MustCompile(`^subnet-[0-9a-f]{8}([0-9a-f]{9})?$`)
	snsTopicPattern        = regexp.MustCompile(`^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$`)
	kmsKeyPattern          = regexp.MustCompile(`^(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/[A-Za-z0-9/_-]+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|alias/[A-Za-z0-9/_-]+)$`)
)

// ValidateSecurityGroupIDs checks EC2 security group ids (sg-…). There is
// no EC2 here: any well-formed id is taken as existing.
func ValidateSecurityGroupIDs(ids []string) error {
	for _, id := range ids {
		if !securityGroupIDPattern.MatchString(id) {
			return Errorf(EINVALID, ResourceNone, "Invalid security group id %s.", Quote(id))
		}
	}
	return nil
}

// ValidateSubnetIDs checks EC2 subnet ids (subnet-…), taken as existing.
func ValidateSubnetIDs(ids []string) error {
	for _, id := range ids {
		if !subnetIDPattern.MatchString(id) {
			return Errorf(EINVALID, ResourceNone, "Invalid subnet id %s.", Quote(id))
		}
	}
	return nil
}

// ValidateTopicARN checks an SNS topic ARN.
func ValidateTopicARN(arn string) error {
	if !snsTopicPattern.MatchString(arn) {
		return Errorf(EINVALID, ResourceNone, "Invalid NotificationTopicArn %s.", Quote(arn))
	}
	return nil
}

// ValidateKmsKeyID checks a KMS key id, alias or ARN.
func ValidateKmsKeyID(id string) error {
	if !kmsKeyPattern.MatchString(id) {
		return Errorf(EINVALID, ResourceNone, "Invalid KmsKeyId %s.", Quote(id))
	}
	return nil
}

// ValidateAZ checks that an availability zone belongs to the region
// (the region's name followed by one letter, as us-east-1a).
func ValidateAZ(region, az string) error {
	if len(az) != len(region)+1 || !strings.HasPrefix(az, region) || az[len(az)-1] < 'a' || az[len(az)-1] > 'f' {
		return Errorf(EINVALID, ResourceNone, "Invalid availability zone %s for region %s.", Quote(az), region)
	}
	return nil
}

// Quote quotes a value for an error message, at most 64 characters of it,
// so that no message echoes a huge input.
func Quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return fmt.Sprintf("%q", s)
}
