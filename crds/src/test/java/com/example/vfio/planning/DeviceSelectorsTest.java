package com.example.vfio.planning;

import com.example.vfio.api.DeviceSelector;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class DeviceSelectorsTest {
    private static final DeviceFacts H100 = new DeviceFacts("0000:41:00.0", "10DE", "2342", "030200", "nouveau", "14");
    private static final DeviceFacts HDA = new DeviceFacts("0000:41:00.1", "10de", "22bc", "040300", "snd_hda_intel", "14");
    private static final DeviceFacts UNBOUND_NIC = new DeviceFacts("0000:81:00.2", "15b3", "101e", "020000", null, "40");

    @Test
    void vendor_and_device_ids_compare_case_insensitively() {
        assertThat(DeviceSelectors.matches(DeviceSelector.of().withVendors("10de"), H100)).isTrue();
        assertThat(DeviceSelectors.matches(DeviceSelector.of().withVendors("10DE").withDevices("2342"), H100)).isTrue();
        assertThat(DeviceSelectors.matches(DeviceSelector.of().withVendors("10de").withDevices("2342"), HDA)).isFalse();
    }

    @Test
    void class_matches_by_prefix_of_the_six_digit_code() {
        assertThat(DeviceSelectors.matches(DeviceSelector.of().withClasses("03"), H100)).isTrue();
        assertThat(DeviceSelectors.matches(DeviceSelector.of().withClasses("0302"), H100)).isTrue();
        assertThat(DeviceSelectors.matches(DeviceSelector.of().withClasses("0300"), H100)).isFalse();
        assertThat(DeviceSelectors.matches(DeviceSelector.of().withClasses("030200"), H100)).isTrue();
        assertThat(DeviceSelectors.matches(DeviceSelector.of().withClasses("03"), HDA)).isFalse();
    }

    @Test
    void every_given_list_must_match_and_any_entry_within_a_list() {
        DeviceSelector gpuOrAudioOfNvidia = DeviceSelector.of().withVendors("10de").withClasses("03", "04");
        assertThat(DeviceSelectors.matches(gpuOrAudioOfNvidia, H100)).isTrue();
        assertThat(DeviceSelectors.matches(gpuOrAudioOfNvidia, HDA)).isTrue();
        assertThat(DeviceSelectors.matches(gpuOrAudioOfNvidia, UNBOUND_NIC)).isFalse();
    }

    @Test
    void address_selects_exactly_one_function() {
        assertThat(DeviceSelectors.matches(DeviceSelector.of().withAddresses("0000:41:00.0"), H100)).isTrue();
        assertThat(DeviceSelectors.matches(DeviceSelector.of().withAddresses("0000:41:00.0"), HDA)).isFalse();
    }

    @Test
    void driver_selects_by_host_driver_and_none_selects_unbound_devices() {
        assertThat(DeviceSelectors.matches(DeviceSelector.of().withDrivers("nouveau"), H100)).isTrue();
        assertThat(DeviceSelectors.matches(DeviceSelector.of().withDrivers("nouveau"), HDA)).isFalse();
        assertThat(DeviceSelectors.matches(DeviceSelector.of().withDrivers("none"), UNBOUND_NIC)).isTrue();
        assertThat(DeviceSelectors.matches(DeviceSelector.of().withDrivers("none"), H100)).isFalse();
    }

    @Test
    void a_selector_naming_nothing_selects_nothing() {
        assertThat(DeviceSelectors.matches(DeviceSelector.of(), H100)).isFalse();
        assertThat(DeviceSelectors.matches(null, H100)).isFalse();
    }
}
