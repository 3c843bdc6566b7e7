import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.marcnuri.helm.Helm;
import com.marcnuri.helm.TemplateCommand;
import java.nio.file.Path;

/**
 * Renders the chart with real Helm (helm-java, as the chart tests do) and prints every object as one JSON
 * {@code List}, for images/test to read with jq and to apply with kubectl:
 * {@code java -cp <charts test classpath> RenderChart.java CHART_DIR RELEASE NAMESPACE [key=value ...]}
 * (each key=value is a {@code --set}).
 */
public final class RenderChart {
    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: RenderChart CHART_DIR RELEASE NAMESPACE [key=value ...]");
            System.exit(2);
        }
        TemplateCommand template = new Helm(Path.of(args[0])).template().withName(args[1]).withNamespace(args[2]);
        for (int i = 3; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            if (eq <= 0) {
                System.err.println("RenderChart: not key=value: " + args[i]);
                System.exit(2);
            }
            template.set(args[i].substring(0, eq), args[i].substring(eq + 1));
        }
        String yaml = template.call();
        ObjectMapper json = new ObjectMapper();
        ObjectNode list = json.createObjectNode().put("apiVersion", "v1").put("kind", "List");
        ArrayNode items = list.putArray("items");
        try (var documents = new ObjectMapper(new YAMLFactory()).readerFor(JsonNode.class).readValues(yaml)) {
            while (documents.hasNext()) {
                JsonNode document = (JsonNode) documents.next();
                if (document != null && document.isObject() && document.has("kind")) {
                    items.add(document);
                }
            }
        }
        System.out.println(json.writeValueAsString(list));
    }
}
