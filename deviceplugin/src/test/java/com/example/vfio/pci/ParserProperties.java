package com.example.vfio.pci;

import static org.assertj.core.api.Assertions.assertThat;

import com.example.vfio.viability.AliasPattern;
import com.example.vfio.viability.DriverChooser;
import java.io.BufferedReader;
import java.io.StringReader;
import java.util.Map;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;

/** Random input never throws anything but the project's own error type, and matching obeys its laws. */
class ParserProperties {

    @Property
    void pciAddressParsingThrowsOnlyInvalidName(@ForAll("addressLike") String text) {
        try {
            PciAddress address = PciAddress.parse(text);
            assertThat(PciAddress.parse(address.toString())).isEqualTo(address);
        } catch (InvalidNameException expected) {
            assertThat(expected.getMessage()).startsWith("not a PCI address");
        }
    }

    @Property
    void anyAddressRoundTrips(@ForAll @IntRange(max = 0xffff) int domain, @ForAll @IntRange(max = 0xff) int bus,
            @ForAll @IntRange(max = 0x1f) int slot, @ForAll @IntRange(max = 7) int function) {
        PciAddress address = new PciAddress(domain, bus, slot, function);
        assertThat(PciAddress.parse(address.toString())).isEqualTo(address);
        assertThat(PciAddress.isValid(address.toString())).isTrue();
    }

    @Property
    void addressesOrderAsTheirTextAndEqualOnlyWhenTheSame(@ForAll("addresses") PciAddress a,
            @ForAll("addresses") PciAddress b) {
        assertThat(Integer.signum(a.compareTo(b))).isEqualTo(Integer.signum(a.toString().compareTo(b.toString())));
        assertThat(a.equals(b)).isEqualTo(a.toString().equals(b.toString())).isEqualTo(a.compareTo(b) == 0);
        if (a.equals(b)) {
            assertThat(a.hashCode()).isEqualTo(b.hashCode());
        }
    }

    @Provide
    Arbitrary<PciAddress> addresses() {
        // few values per field, so that equal and nearly equal addresses come up often
        return Combinators.combine(Arbitraries.of(0, 1, 0xffff), Arbitraries.of(0, 0x41, 0xff),
                Arbitraries.of(0, 1, 0x1f), Arbitraries.integers().between(0, 7)).as(PciAddress::new);
    }

    @Property
    void modulesAliasParsingNeverThrows(@ForAll("aliasFileText") String text) {
        ModuleAliases aliases = ModuleAliases.parse(new BufferedReader(new StringReader(text)), "modules.alias");
        assertThat(aliases.vfioAliases()).allSatisfy(a -> assertThat(Names.isDriverName(a.module())).isTrue());
    }

    @Property
    void builtinModinfoParsingNeverThrows(@ForAll byte[] content) {
        ModuleAliases aliases = ModuleAliases.parseBuiltinModinfo(content, "modules.builtin.modinfo");
        assertThat(aliases.vfioAliases()).allSatisfy(a -> assertThat(Names.isDriverName(a.module())).isTrue());
    }

    @Property
    void aPatternWithoutWildcardsMatchesExactlyItself(@ForAll("modalias") String modalias,
            @ForAll("modalias") String other) {
        String key = modalias.substring(4);
        assertThat(AliasPattern.matches(key, key)).isTrue();
        assertThat(AliasPattern.matches(key, other.substring(4))).isEqualTo(key.equalsIgnoreCase(other.substring(4)));
    }

    @Property
    void theVendorWideAliasMatchesEveryDeviceOfTheVendor(@ForAll("modalias") String modalias) {
        String vendor = modalias.substring(5, 13);
        assertThat(AliasPattern.matches("v" + vendor + "d*sv*sd*bc*sc*i*", modalias.substring(4))).isTrue();
        assertThat(AliasPattern.matches("v*d*sv*sd*bc*sc*i*", modalias.substring(4))).isTrue();
    }

    @Property
    void matchingArbitraryPatternsNeverThrows(@ForAll("globs") String pattern, @ForAll("globs") String text) {
        AliasPattern.matches(pattern, text);
    }

    @Property
    void theChooserAlwaysAnswers(@ForAll("aliasFileText") String text, @ForAll("modalias") String modalias) {
        ModuleAliases aliases = ModuleAliases.parse(new BufferedReader(new StringReader(text)), "modules.alias");
        assertThat(new DriverChooser(aliases, Map.of()).best(modalias).module()).isNotBlank();
    }

    @Provide
    Arbitrary<String> addressLike() {
        return Arbitraries.oneOf(
                Arbitraries.strings().withChars("0123456789abcdefABCDEFxg:./- ").ofMaxLength(16),
                Arbitraries.strings().ofMaxLength(20));
    }

    @Provide
    Arbitrary<String> modalias() {
        Arbitrary<Integer> id = Arbitraries.integers().between(0, 0xffff);
        Arbitrary<Integer> b = Arbitraries.integers().between(0, 0xff);
        return Combinators.combine(id, id, id, id, b, b, b)
                .as((v, d, sv, sd, bc, sc, i) -> String.format("pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X",
                        v, d, sv, sd, bc, sc, i));
    }

    @Provide
    Arbitrary<String> globs() {
        return Arbitraries.strings().withChars("vdsbci0123456789ABCDEF*?").ofMaxLength(40);
    }

    @Provide
    Arbitrary<String> aliasFileText() {
        Arbitrary<String> goodLine = Arbitraries.of("alias vfio_pci:v*d*sv*sd*bc*sc*i* vfio_pci",
                "alias vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i* mlx5_vfio_pci", "alias pci:v*d* e1000", "# comment");
        Arbitrary<String> junk = Arbitraries.strings().ofMaxLength(60);
        Arbitrary<String> alias = Arbitraries.strings().withChars("vfio_pci:*?ABC/.. \t").ofMaxLength(30)
                .map(s -> "alias " + s);
        return Arbitraries.oneOf(goodLine, junk, alias).list().ofMaxSize(20).map(l -> String.join("\n", l));
    }
}
