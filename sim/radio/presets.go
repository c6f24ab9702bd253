package radio

import (
	"fmt"
	"time"
)

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// LTE constants from AT&T ARO's lte.conf, which encodes Huang et al.,
// "A Close Examination of Performance and Power Characteristics of 4G LTE
// Networks", MobiSys 2012 (attdevsupport/VideoOptimizer:
// ARO.Core/src/main/resources/lte.conf).
const (
	ltePromotionS  = 0.26  // T_PROMOTION
	ltePromotionW  = 1.21  // P_PROMOTION
	lteTailW       = 1.06  // P_TAIL, the CONNECTED baseline
	lteDRXPingW    = 1.68  // P_SHORT_DRX_PING, P_LONG_DRX_PING
	lteDRXPingS    = 0.002 // T_DRX_PING
	lteShortPeriod = 0.02  // T_SHORT_DRX_PING_PERIOD
	lteLongPeriod  = 0.04  // T_LONG_DRX_PING_PERIOD
	lteIdlePingW   = 0.594 // P_IDLE_PING
	lteIdlePingS   = 0.043 // T_IDLE_PING
	lteIdlePeriodS = 1.28  // T_IDLE_PING_PERIOD
	// Huang 2012 reports the whole LTE tail as 11.576 s (facts §5.1, [M]);
	// ARO's timers add up to 0.1 + 0.02 + 10 s.
	huangTailS = 11.576
	// LTE_ALPHA_UP / LTE_ALPHA_DOWN in mW/Mbps: energy per megabit in mJ,
	// so J/byte = alpha * 8 / 1e9.
	lteAlphaUp   = 438.39
	lteAlphaDown = 51.97
)

// drxPower is the average power in a DRX state: the baseline plus the
// on-duration pings at their power for their share of each cycle.
func drxPower(period float64) float64 {
	return lteTailW + (lteDRXPingW-lteTailW)*lteDRXPingS/period
}

// lteIdleW is the average LTE idle paging power: a 43 ms wake at 0.594 W
// every 1.28 s (about 20 mW).
const lteIdleW = lteIdlePingW * lteIdlePingS / lteIdlePeriodS

// UMTS constants from ARO's inspire.conf (HTC Inspire) and imap.conf
// (Samsung Captivate), same repository. Promotions use the average delays.
const (
	umtsDCHTimerS   = 4   // DCH_FACH_TIMER
	umtsFACHTimerS  = 10  // FACH_IDLE_TIMER
	umtsIdleDCHS    = 2.0 // IDLE_DCH_PROMO_AVG
	umtsFACHDCHS    = 1.5 // FACH_DCH_PROMO_AVG
	umtsRLCUpBytes  = 543 // RLC_UL_TH: larger uplink bursts promote FACH to DCH
	umtsRLCDownByte = 475 // RLC_DL_TH
)

// Wi-Fi constants from ARO's WiFi.conf and lte.conf (POWER_WIFI_ACTIVE,
// POWER_WIFI_STANDBY, WIFI_TAIL_TIME); facts §5.4.
const (
	wifiActiveW  = 0.403
	wifiStandbyW = 0.02
	wifiTailS    = 0.25
)

// presetTable builds the built-in presets; each call returns fresh copies.
func presetTable() []*Preset {
	lteBytes := func(p *Preset) *Preset {
		p.UpJPerByte = lteAlphaUp * 8 / 1e9
		p.DownJPerByte = lteAlphaDown * 8 / 1e9
		return p
	}
	return []*Preset{
		lteBytes(&Preset{
			Name:   "lte-huang2012",
			Source: "Huang et al., MobiSys 2012 (tail 11.576 s at the 1.06 W tail baseline); powers from AT&T ARO lte.conf",
			// The paper's figure for the whole tail at the tail baseline,
			// so an isolated keep-alive costs 0.26*1.21 + 11.576*1.06 = 12.6 J (facts §5.6).
			Promotion:  Promotion{seconds(ltePromotionS), ltePromotionW},
			Tail:       []State{{Name: "CONNECTED tail", PowerW: lteTailW, Timer: seconds(huangTailS)}},
			IdlePowerW: lteIdleW,
		}),
		lteBytes(&Preset{
			Name:      "lte-aro",
			Source:    "AT&T ARO lte.conf (attdevsupport/VideoOptimizer): inactivity 0.1 s, short DRX 0.02 s, long DRX 10 s, DRX pings 2 ms at 1.68 W",
			Promotion: Promotion{seconds(ltePromotionS), ltePromotionW},
			Tail: []State{
				{Name: "continuous reception", PowerW: lteTailW, Timer: seconds(0.1)},
				{Name: "short DRX", PowerW: drxPower(lteShortPeriod), Timer: seconds(0.02)},
				{Name: "long DRX", PowerW: drxPower(lteLongPeriod), Timer: seconds(10)},
			},
			IdlePowerW: lteIdleW,
		}),
		umts("umts-inspire", "AT&T ARO inspire.conf (HTC Inspire)", 0.30, 0.49, 0.60, 0.38),
		umts("umts-captivate", "AT&T ARO imap.conf (Samsung Captivate)", 0.51, 0.71, 1.02, 0.40),
		{
			Name:       "wifi-psm",
			Source:     "AT&T ARO WiFi.conf / lte.conf: active 0.403 W, standby 0.02 W, tail 0.25 s; 802.11 PSM",
			Tail:       []State{{Name: "active (PSM timeout)", PowerW: wifiActiveW, Timer: seconds(wifiTailS)}},
			IdlePowerW: wifiStandbyW,
		},
		lteBytes(&Preset{
			Name: "nr-nsa",
			Source: "PLACEHOLDER, not measured: midpoints of the ranges in facts §5.3 (promotion 0.3-0.6 s at 1.5 W, " +
				"tail 10-20 s at 1.5-2.5 W); idle paging and per-byte energy taken from LTE (NSA anchors on LTE)",
			Placeholder: true,
			Promotion:   Promotion{seconds(0.45), 1.5},
			Tail:        []State{{Name: "CONNECTED tail", PowerW: 2.0, Timer: seconds(15)}},
			IdlePowerW:  lteIdleW,
		}),
	}
}

// umts builds an ARO 3G profile: IDLE -> DCH promotion, DCH tail, FACH
// tail serving small packets, FACH -> DCH repromotion for large ones.
func umts(name, source string, promoW, repromoW, dchW, fachW float64) *Preset {
	return &Preset{
		Name:        name,
		Source:      source,
		Promotion:   Promotion{seconds(umtsIdleDCHS), promoW},
		Repromotion: Promotion{seconds(umtsFACHDCHS), repromoW},
		Tail: []State{
			{Name: "CELL_DCH", PowerW: dchW, Timer: seconds(umtsDCHTimerS)},
			{Name: "CELL_FACH", PowerW: fachW, Timer: seconds(umtsFACHTimerS), ServesSmall: true},
		},
		SmallUpBytes:   umtsRLCUpBytes,
		SmallDownBytes: umtsRLCDownByte,
	}
}

// Presets returns fresh copies of the built-in presets, in a fixed order.
func Presets() []*Preset { return presetTable() }

// PresetNames returns the built-in preset names, in a fixed order.
func PresetNames() []string {
	var names []string
	for _, p := range presetTable() {
		names = append(names, p.Name)
	}
	return names
}

// PresetByName returns a fresh copy of the named built-in preset. Share
// the returned pointer among the devices of a group.
func PresetByName(name string) (*Preset, error) {
	for _, p := range presetTable() {
		if p.Name == name {
			return p, nil
		}
	}
	return nil, fmt.Errorf("radio: unknown preset %q (known: %v)", name, PresetNames())
}
