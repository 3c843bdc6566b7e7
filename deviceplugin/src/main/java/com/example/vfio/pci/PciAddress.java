package com.example.vfio.pci;

/** A PCI function address in the kernel's {@code dddd:bb:ss.f} form, e.g. {@code 0000:41:00.0}. */
public record PciAddress(int domain, int bus, int slot, int function) implements Comparable<PciAddress> {

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

    /** Domain, bus, slot, function: the order lspci and sysfs list them in. */
    @Override
    public int compareTo(PciAddress other) {
        return Long.compare(packed(), other.packed());
    }

    // written out: a record's generated equals and hashCode are slow in the daemon's C1-only JVM, and a
    // rescan hashes every address of the host
    @Override
    public boolean equals(Object o) {
        return o instanceof PciAddress other && packed() == other.packed();
    }

    @Override
    public int hashCode() {
        return Long.hashCode(packed());
    }

    private long packed() {
        return (long) domain << 16 | bus << 8 | slot << 3 | function;
    }

    @Override
    public String toString() {
        char[] text = new char[12];
        hex(text, 0, domain, 4);
        text[4] = ':';
        hex(text, 5, bus, 2);
        text[7] = ':';
        hex(text, 8, slot, 2);
        text[10] = '.';
        text[11] = (char) ('0' + function);
        return new String(text);
    }

    private static void hex(char[] into, int at, int value, int digits) {
        for (int i = digits - 1; i >= 0; i--) {
            into[at + i] = Character.forDigit(value & 0xf, 16);
            value >>>= 4;
        }
    }
}
