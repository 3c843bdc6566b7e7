package com.example.vfio.pci;

import java.util.Comparator;

/** A PCI function address in the kernel's {@code dddd:bb:ss.f} form, e.g. {@code 0000:41:00.0}. */
public record PciAddress(int domain, int bus, int slot, int function) implements Comparable<PciAddress> {

    private static final Comparator<PciAddress> ORDER = Comparator.comparingInt(PciAddress::domain)
            .thenComparingInt(PciAddress::bus)
            .thenComparingInt(PciAddress::slot)
            .thenComparingInt(PciAddress::function);

    public PciAddress {
        if (domain < 0 || domain > 0xffff || bus < 0 || bus > 0xff || slot < 0 || slot > 0x1f
                || function < 0 || function > 7) {
            throw new InvalidNameException("PCI address out of range: domain=" + domain + " bus=" + bus
                    + " slot=" + slot + " function=" + function);
        }
    }

    /**
     * Parses {@code dddd:bb:ss.f}; hex digits in either case, printed back in lower case. Anything
     * else (a path, a short form such as {@code 41:00.0}) is refused.
     */
    public static PciAddress parse(String text) {
        if (!isValid(text)) {
            throw new InvalidNameException("not a PCI address (expected dddd:bb:ss.f, e.g. 0000:41:00.0): "
                    + Names.quote(text));
        }
        return new PciAddress(Integer.parseInt(text, 0, 4, 16), Integer.parseInt(text, 5, 7, 16),
                Integer.parseInt(text, 8, 10, 16), text.charAt(11) - '0');
    }

    public static boolean isValid(String text) {
        if (text == null || text.length() != 12 || text.charAt(4) != ':' || text.charAt(7) != ':'
                || text.charAt(10) != '.') {
            return false;
        }
        for (int i : new int[] {0, 1, 2, 3, 5, 6, 8, 9}) {
            if (Character.digit(text.charAt(i), 16) < 0) {
                return false;
            }
        }
        char f = text.charAt(11);
        return f >= '0' && f <= '7' && Integer.parseInt(text, 8, 10, 16) <= 0x1f;
    }

    @Override
    public int compareTo(PciAddress other) {
        return ORDER.compare(this, other);
    }

    @Override
    public String toString() {
        return String.format("%04x:%02x:%02x.%d", domain, bus, slot, function);
    }
}
