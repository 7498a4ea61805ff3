package rights_test

import (
	"errors"
	"testing"
	"time"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/rights"
)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func TestDueDate(t *testing.T) {
	tests := []struct {
		received time.Time
		extra    int
		want     time.Time // the last day allowed
	}{
		{day(2026, 1, 15).Add(10 * time.Hour), 0, day(2026, 2, 15)},
		{day(2026, 1, 31), 0, day(2026, 2, 28)},  // no 31 February: end of February
		{day(2028, 1, 31), 0, day(2028, 2, 29)},  // leap year
		{day(2100, 1, 31), 0, day(2100, 2, 28)},  // not a leap year (century)
		{day(2000, 1, 30), 0, day(2000, 2, 29)},  // leap year (400)
		{day(2026, 3, 31), 0, day(2026, 4, 30)},  // 30-day month
		{day(2026, 12, 31), 0, day(2027, 1, 31)}, // year end
		{day(2026, 2, 28), 0, day(2026, 3, 28)},  // not the end of March
		{day(2026, 1, 31), 2, day(2026, 4, 30)},  // extended by two months
		{day(2027, 11, 30), 2, day(2028, 2, 29)}, // extended into a leap February
		{day(2026, 8, 31), 1, day(2026, 10, 31)},
		{time.Date(2026, 5, 31, 23, 30, 0, 0, time.FixedZone("CEST", 2*3600)), 0, day(2026, 6, 30)}, // 21:30 UTC on 31 May
	}
	for _, tt := range tests {
		got := rights.DueDate(tt.received, tt.extra)
		want := tt.want.Add(24*time.Hour - time.Microsecond)
		if !got.Equal(want) {
			t.Errorf("DueDate(%s, %d) = %s, want %s", tt.received.Format(time.RFC3339), tt.extra, got.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano))
		}
	}
}

func TestExtendedDueDate(t *testing.T) {
	received := day(2026, 1, 31).Add(9 * time.Hour)
	tests := []struct {
		name   string
		months int
		now    time.Time
		want   time.Time
		err    error
	}{
		{"one month, early", 1, day(2026, 2, 1), day(2026, 3, 31), nil},
		{"two months, last minute", 2, day(2026, 2, 28).Add(23*time.Hour + 59*time.Minute), day(2026, 4, 30), nil},
		{"too late", 1, day(2026, 3, 1), time.Time{}, garde.ErrConflict},
		{"three months", 3, day(2026, 2, 1), time.Time{}, garde.ErrInvalid},
		{"zero", 0, day(2026, 2, 1), time.Time{}, garde.ErrInvalid},
	}
	for _, tt := range tests {
		got, err := rights.ExtendedDueDate(received, tt.months, tt.now)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("%s: ExtendedDueDate = %v, %v; want %v", tt.name, got, err, tt.err)
			}
			continue
		}
		if err != nil || !got.Equal(tt.want.Add(24*time.Hour-time.Microsecond)) {
			t.Errorf("%s: ExtendedDueDate = %v, %v; want end of %s", tt.name, got, err, tt.want.Format(time.DateOnly))
		}
	}
}
