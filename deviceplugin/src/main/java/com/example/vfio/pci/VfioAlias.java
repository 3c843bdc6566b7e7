package com.example.vfio.pci;

/**
 * One {@code alias vfio_pci:<pattern> <module>} line: the module is a VFIO (variant) driver for the
 * devices whose modalias matches the pattern.
 *
 * @param pattern the glob after {@code vfio_pci:}, e.g. {@code v000015B3d0000101Esv*sd*bc*sc*i*}
 * @param order   position among all vfio_pci aliases read (file order breaks ties)
 */
public record VfioAlias(String pattern, String module, int order) {
    public int wildcards() {
        int n = 0;
        for (int i = 0; i < pattern.length(); i++) {
            if (pattern.charAt(i) == '*') {
                n++;
            }
        }
        return n;
    }
}
