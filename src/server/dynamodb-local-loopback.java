// Starts DynamoDB Local (the official jar, on the class path) listening on 127.0.0.1 only.
// The jar has no bind-address option: its Jetty server listens on every interface. This launcher
// builds the server the way the jar's own main does (same flags, telemetry configured from
// -disableTelemetry), sets the one connector's host to 127.0.0.1 before it starts, and refuses
// requests that a web page could send (an Origin header, or a Host other than loopback: DNS
// rebinding). It exits non-zero rather than ever listen anywhere else.
// Run by dynamodb-local.ts in Java's source-file mode: java -cp <jar>:<lib>/* <this file> <flags>.

import java.lang.reflect.Field;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.Callback;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

public class LoopbackDynamoDbLocal {
  static final String LOOPBACK = "127.0.0.1";

  public static void main(String[] args) throws Exception {
    DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
    Field field = DynamoDBProxyServer.class.getDeclaredField("server");
    field.setAccessible(true);
    Server server = (Server) field.get(proxy);
    Connector[] connectors = server.getConnectors();
    if (connectors.length != 1 || !(connectors[0] instanceof ServerConnector)) {
      System.err.println("DynamoDB Local: unexpected Jetty connectors; refusing to start");
      System.exit(2);
    }
    ServerConnector connector = (ServerConnector) connectors[0];
    connector.setHost(LOOPBACK);
    server.setHandler(new LoopbackOnly(server.getHandler(), connector));
    server.start();
    if (!LOOPBACK.equals(connector.getHost())) {
      System.err.println("DynamoDB Local: not bound to loopback; stopping");
      server.stop();
      System.exit(2);
    }
    // dynamodb-local.ts waits for exactly this line: the proof that this process holds the port.
    System.out.println("DynamoDB Local listening on " + LOOPBACK + ":" + connector.getLocalPort());
    server.join();
  }

  /** Answers 403 to browser requests (Origin) and to Host names other than loopback (DNS rebinding). */
  static final class LoopbackOnly extends Handler.Wrapper {
    private final ServerConnector connector;

    LoopbackOnly(Handler inner, ServerConnector connector) {
      super(inner);
      this.connector = connector;
    }

    @Override
    public boolean handle(Request request, Response response, Callback callback) throws Exception {
      String host = request.getHeaders().get("Host");
      String port = String.valueOf(connector.getLocalPort());
      boolean loopbackHost = (LOOPBACK + ":" + port).equals(host) || ("localhost:" + port).equals(host);
      if (request.getHeaders().get("Origin") != null || !loopbackHost) {
        Response.writeError(request, response, callback, 403);
        return true;
      }
      return super.handle(request, response, callback);
    }
  }
}
