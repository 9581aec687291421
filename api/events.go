package api

import (
	"context"
	"slices"
	"strings"
	"time"

	"keyward"
	"keyward/ecapi"
)

// defaultEventWindow is what DescribeEvents returns without a time range:
// the last hour, as ElastiCache.
const defaultEventWindow = time.Hour

var sourceTypes = []string{
	ecapi.SourceTypeCacheCluster, ecapi.SourceTypeCacheParameterGroup, ecapi.SourceTypeCacheSecurityGroup,
	ecapi.SourceTypeCacheSubnetGroup, ecapi.SourceTypeReplicationGroup, ecapi.SourceTypeServerlessCache,
	ecapi.SourceTypeServerlessCacheSnapshot, ecapi.SourceTypeUser, ecapi.SourceTypeUserGroup,
}

// DescribeEvents lists the events of the caller's scope, newest first.
// The time range is StartTime–EndTime when either is given (the missing end
// is now, the missing start an hour before the end), else the last Duration
// minutes (default 60); never beyond the 14 days events are kept.
func (s *Service) DescribeEvents(ctx context.Context, in *ecapi.DescribeEventsMessage) (*ecapi.EventsMessage, error) {
	out, err := s.describeEvents(ctx, in)
	return out, apiError(err)
}

func (s *Service) describeEvents(ctx context.Context, in *ecapi.DescribeEventsMessage) (*ecapi.EventsMessage, error) {
	sc, err := s.scope(ctx)
	if err != nil {
		return nil, err
	}
	f := keyward.EventFilter{SourceID: strings.ToLower(deref(in.SourceIdentifier))}
	if in.SourceType != nil {
		if !slices.Contains(sourceTypes, *in.SourceType) {
			return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceNone, "Invalid value for SourceType: %s. Valid values are %s.", *in.SourceType, strings.Join(sourceTypes, ", "))
		}
		f.SourceType = keyward.EventSourceType(*in.SourceType)
	}
	now := s.now()
	switch {
	case in.StartTime != nil || in.EndTime != nil:
		f.End = now
		if in.EndTime != nil {
			f.End = in.EndTime.UTC()
		}
		f.Start = f.End.Add(-defaultEventWindow)
		if in.StartTime != nil {
			f.Start = in.StartTime.UTC()
		}
		if in.StartTime != nil && in.EndTime != nil && f.Start.After(f.End) {
			return nil, keyward.Errorf(keyward.ECOMBINATION, keyward.ResourceNone, "The StartTime %s must be before the EndTime %s.", f.Start.Format(time.RFC3339), f.End.Format(time.RFC3339))
		}
	default:
		minutes := 60
		if in.Duration != nil {
			minutes = int(*in.Duration)
			if minutes < 1 || time.Duration(minutes)*time.Minute > keyward.EventRetention {
				return nil, keyward.Errorf(keyward.EINVALID, keyward.ResourceNone, "Duration must be between 1 and %d minutes.", int(keyward.EventRetention/time.Minute))
			}
		}
		f.Start, f.End = now.Add(-time.Duration(minutes)*time.Minute), now
	}
	if oldest := now.Add(-keyward.EventRetention); f.Start.Before(oldest) {
		f.Start = oldest
	}
	page, err := parsePage(in.MaxRecords, in.Marker)
	if err != nil {
		return nil, err
	}
	f.AfterID, f.Limit = page.after, page.max+1
	var events []*keyward.Event
	err = s.Store.View(ctx, func(tx keyward.Tx) (err error) {
		events, err = tx.FindEvents(ctx, sc, f)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := &ecapi.EventsMessage{Events: []ecapi.Event{}}
	if len(events) > page.max {
		events, out.Marker = events[:page.max], ptr(encodeMarker(events[page.max-1].ID))
	}
	for _, e := range events {
		out.Events = append(out.Events, ecapi.Event{
			SourceIdentifier: ptr(e.SourceID), SourceType: ptr(string(e.SourceType)), Message: ptr(e.Message), Date: ptr(e.Date),
		})
	}
	return out, nil
}
