// Package radio models the energy a device's radio spends on the packets
// it sends and receives: promotion delays, tail states with their timers
// and powers, idle paging, and Wi-Fi power save, with presets from
// published measurements (Huang et al. MobiSys 2012, AT&T ARO profiles).
package radio
