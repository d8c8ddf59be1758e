import { EXIT_POLICY, SERVICE_ENV } from "./worker-boot.ts";

/**
 * C# source of the program that runs the worker on Windows. node.exe cannot answer the service
 * control manager itself, and AWS Windows AMIs ship no service host for it (no NSSM, no WinSW),
 * but every Windows ships the .NET Framework compiler that PowerShell's `Add-Type` drives; so the
 * bootstrap fetches this source from the artifacts bucket and compiles it into
 * `spotq-worker-service.exe`.
 *
 * It runs as the Windows service (`processor.session: "service"`) or, with `--console`, from a
 * scheduled task in an auto-logged-on desktop session (`"interactive"`). Either way it:
 *
 * - gives the worker the environment in the env file (KEY=VALUE lines), and sends its output to
 *   the log file (shared for reading, so the log shipper can follow it);
 * - applies the exit-code table of CONTRACTS §4: 0 ends the service for good (the instance is
 *   going away); 2 (bad config) and 3 (preflight failed) run the failure path ("leave") with no
 *   restart; any other code is a crash, restarted after 1, 2, 4, 8, 16 s, at most
 *   {@link EXIT_POLICY}.maxRestarts times within {@link EXIT_POLICY}.windowSeconds; the crash
 *   after that leaves too;
 * - stops gracefully (CONTRACTS §9): on a service stop or shutdown (or a console close, logoff or
 *   Ctrl+C in a session) it creates the stop file `SPOTQ_STOP_FILE`, waits up to
 *   `SPOTQ_STOP_GRACE_SECONDS` for the worker to hand its job back and exit (asking the service
 *   control manager for more time meanwhile), and only then ends the worker's process tree with
 *   `taskkill /T /F`.
 *
 * The failure path is `spotq-instance.ps1 -Action leave` (written by the bootstrap): log, the
 * BootstrapFailed or WorkerCrashLoop metric, then ABANDON the launch hook or terminate without
 * decrement, unless fleet.debugKeepFailedInstances keeps the instance.
 *
 * It sends no console control event to the worker: a service has no console to share with it,
 * and attaching to the child's console to raise Ctrl+C would hit this program too. The stop file
 * is the one graceful signal.
 *
 * C# 5 only (the compiler Windows PowerShell 5.1 uses): no string interpolation, no `?.`.
 */
export const SERVICE_WRAPPER_SOURCE = `using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Runtime.InteropServices;
using System.ServiceProcess;
using System.Threading;

public class SpotqWorkerService : ServiceBase
{
    // CONTRACTS section 4: the worker's exit codes and what the service manager does with them.
    private const int ExitOrderly = ${EXIT_POLICY.orderly};
    private const int ExitBadConfig = ${EXIT_POLICY.badConfig};
    private const int ExitPreflightFailed = ${EXIT_POLICY.preflightFailed};
    private const int MaxRestarts = ${EXIT_POLICY.maxRestarts};
    private const int RestartWindowSeconds = ${EXIT_POLICY.windowSeconds};
    private const int MaxBackoffSeconds = ${EXIT_POLICY.maxBackoffSeconds};
    private const int DefaultStopGraceSeconds = 90;
    private const long MaxLogBytes = 50L * 1024 * 1024;

    private delegate bool ConsoleCtrlHandler(int ctrlType);
    [DllImport("kernel32.dll")]
    private static extern bool SetConsoleCtrlHandler(ConsoleCtrlHandler handler, bool add);
    private static ConsoleCtrlHandler consoleHandler;

    private readonly bool consoleMode;
    private readonly string node;
    private readonly string script;
    private readonly string logFile;
    private readonly string envFile;
    private readonly string instanceScript;
    private readonly Dictionary<string, string> environment = new Dictionary<string, string>();
    private readonly List<DateTime> restarts = new List<DateTime>();
    private readonly object sync = new object();
    private readonly object logLock = new object();
    private readonly ManualResetEvent stopRequested = new ManualResetEvent(false);
    private StreamWriter log;
    private Process child;
    private Thread supervisor;
    private string stopFile;
    private int stopGraceSeconds = DefaultStopGraceSeconds;
    private bool stopping;

    public SpotqWorkerService(bool consoleMode, string node, string script, string logFile, string envFile, string instanceScript)
    {
        ServiceName = "spotq-worker";
        CanStop = true;
        CanShutdown = true;
        this.consoleMode = consoleMode;
        this.node = node;
        this.script = script;
        this.logFile = logFile;
        this.envFile = envFile;
        this.instanceScript = instanceScript;
    }

    public static int Main(string[] args)
    {
        bool consoleMode = args.Length > 0 && args[0] == "--console";
        int first = consoleMode ? 1 : 0;
        if (args.Length - first != 5)
        {
            Console.Error.WriteLine("usage: spotq-worker-service [--console] <node.exe> <worker.mjs> <log file> <env file> <spotq-instance.ps1>");
            return 64;
        }
        SpotqWorkerService service = new SpotqWorkerService(consoleMode, args[first], args[first + 1], args[first + 2], args[first + 3], args[first + 4]);
        if (!consoleMode)
        {
            ServiceBase.Run(service);
            return 0;
        }
        // A desktop session: Ctrl+C, closing the window, logoff and shutdown stop the worker gracefully.
        consoleHandler = delegate(int ctrlType) { service.Halt(); return true; };
        SetConsoleCtrlHandler(consoleHandler, true);
        service.Begin();
        service.supervisor.Join();
        return 0;
    }

    protected override void OnStart(string[] startArgs)
    {
        Begin();
    }

    protected override void OnStop()
    {
        Halt();
    }

    protected override void OnShutdown()
    {
        Halt();
    }

    private void Begin()
    {
        if (File.Exists(logFile) && new FileInfo(logFile).Length > MaxLogBytes)
        {
            File.Copy(logFile, logFile + ".1", true);
            File.Delete(logFile);
        }
        log = new StreamWriter(new FileStream(logFile, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete));
        log.AutoFlush = true;
        LoadEnvironment();
        supervisor = new Thread(Supervise);
        supervisor.IsBackground = consoleMode;
        supervisor.Start();
    }

    private void LoadEnvironment()
    {
        foreach (string line in File.ReadAllLines(envFile))
        {
            int eq = line.IndexOf('=');
            if (eq > 0) environment[line.Substring(0, eq)] = line.Substring(eq + 1);
        }
        string value;
        if (environment.TryGetValue("${SERVICE_ENV.stopFile}", out value)) stopFile = value;
        if (environment.TryGetValue("${SERVICE_ENV.stopGraceSeconds}", out value)) int.TryParse(value, out stopGraceSeconds);
    }

    private void Supervise()
    {
        while (!IsStopping())
        {
            DateTime started = DateTime.UtcNow;
            int code;
            try { code = RunWorker(); }
            catch (Exception e) { Write("cannot run the worker: " + e.Message); code = 1; }
            if (IsStopping()) return;
            if (code == ExitOrderly)
            {
                Write("the worker stopped in order (exit 0); the service stops for good");
                Finish();
                return;
            }
            if (code == ExitBadConfig || code == ExitPreflightFailed)
            {
                Write("the worker exited with " + code + (code == ExitBadConfig ? " (bad config or environment)" : " (preflight failed)") + ": no restart, this instance leaves");
                Leave(code == ExitBadConfig ? "config" : "preflight", code);
                Finish();
                return;
            }
            DateTime now = DateTime.UtcNow;
            // A run that outlasted the window was healthy: earlier crashes no longer count.
            if ((now - started).TotalSeconds >= RestartWindowSeconds) restarts.Clear();
            restarts.RemoveAll(delegate(DateTime t) { return (now - t).TotalSeconds > RestartWindowSeconds; });
            if (restarts.Count >= MaxRestarts)
            {
                Write("the worker crashed (exit " + code + ") after " + MaxRestarts + " restarts within " + RestartWindowSeconds + " s: this instance leaves");
                Leave("crash-loop", code);
                Finish();
                return;
            }
            int delay = Math.Min(MaxBackoffSeconds, 1 << restarts.Count);
            restarts.Add(now);
            Write("the worker crashed (exit " + code + "); restart " + restarts.Count + " of " + MaxRestarts + " in " + delay + " s");
            if (stopRequested.WaitOne(delay * 1000)) return;
        }
    }

    private int RunWorker()
    {
        // A stop file left from an earlier run would stop the new worker at once.
        if (stopFile != null && File.Exists(stopFile)) File.Delete(stopFile);
        Process p = new Process();
        p.StartInfo = new ProcessStartInfo(node, "\\"" + script + "\\"");
        p.StartInfo.UseShellExecute = false;
        p.StartInfo.CreateNoWindow = true;
        p.StartInfo.RedirectStandardOutput = true;
        p.StartInfo.RedirectStandardError = true;
        p.StartInfo.WorkingDirectory = Path.GetDirectoryName(script);
        foreach (KeyValuePair<string, string> kv in environment) p.StartInfo.EnvironmentVariables[kv.Key] = kv.Value;
        p.OutputDataReceived += delegate(object sender, DataReceivedEventArgs e) { WriteRaw(e.Data); };
        p.ErrorDataReceived += delegate(object sender, DataReceivedEventArgs e) { WriteRaw(e.Data); };
        lock (sync)
        {
            if (stopping) return ExitOrderly;
            p.Start();
            child = p;
        }
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        Write("started the worker, pid " + p.Id);
        p.WaitForExit();
        int code = p.ExitCode;
        // Not disposed: a stopping Halt() may still be waiting on it.
        lock (sync) { child = null; }
        return code;
    }

    /** Stops the worker: the stop file first, a bounded wait, and only then the process tree is killed. */
    private void Halt()
    {
        Process p;
        lock (sync)
        {
            if (stopping) return;
            stopping = true;
            p = child;
        }
        stopRequested.Set();
        if (p != null && !HasExited(p))
        {
            if (stopFile != null)
            {
                Write("stopping: created " + stopFile + " for the worker to hand its job back; waiting up to " + stopGraceSeconds + " s");
                try
                {
                    Directory.CreateDirectory(Path.GetDirectoryName(stopFile));
                    File.WriteAllText(stopFile, DateTime.UtcNow.ToString("o"));
                }
                catch (Exception e) { Write("cannot create the stop file: " + e.Message); }
                DateTime deadline = DateTime.UtcNow.AddSeconds(stopGraceSeconds);
                while (!p.WaitForExit(5000) && DateTime.UtcNow < deadline)
                {
                    if (!consoleMode)
                    {
                        try { RequestAdditionalTime(15000); } catch (InvalidOperationException) { }
                    }
                }
            }
            if (!HasExited(p))
            {
                Write("the worker did not stop within " + stopGraceSeconds + " s: ending its process tree");
                ProcessStartInfo kill = new ProcessStartInfo("taskkill.exe", "/PID " + p.Id + " /T /F");
                kill.UseShellExecute = false;
                kill.CreateNoWindow = true;
                using (Process killer = Process.Start(kill)) { killer.WaitForExit(30000); }
                p.WaitForExit(30000);
            }
            else Write("the worker stopped");
        }
        if (supervisor != null && Thread.CurrentThread != supervisor) supervisor.Join(10000);
        lock (logLock)
        {
            if (log != null) { log.Dispose(); log = null; }
        }
    }

    /** The worker ended for good: a service stops itself, a console session ends. */
    private void Finish()
    {
        if (!consoleMode) Stop();
    }

    /** The instance's failure path (spotq-instance.ps1 -Action leave). */
    private void Leave(string reason, int code)
    {
        try
        {
            // A crash's NTSTATUS code is negative: report it as 1 (a crash), the log above has the real one.
            int reported = code < 0 ? 1 : code;
            ProcessStartInfo psi = new ProcessStartInfo("powershell.exe",
                "-NoProfile -NonInteractive -ExecutionPolicy Bypass -File \\"" + instanceScript + "\\" -Action leave -Reason " + reason + " -ExitCode " + reported);
            psi.UseShellExecute = false;
            psi.CreateNoWindow = true;
            psi.RedirectStandardOutput = true;
            psi.RedirectStandardError = true;
            using (Process p = Process.Start(psi))
            {
                p.OutputDataReceived += delegate(object sender, DataReceivedEventArgs e) { WriteRaw(e.Data); };
                p.ErrorDataReceived += delegate(object sender, DataReceivedEventArgs e) { WriteRaw(e.Data); };
                p.BeginOutputReadLine();
                p.BeginErrorReadLine();
                if (!p.WaitForExit(300000)) Write("the failure path did not finish within 5 minutes");
            }
        }
        catch (Exception e) { Write("the failure path failed: " + e.Message); }
    }

    private bool IsStopping()
    {
        lock (sync) { return stopping; }
    }

    private static bool HasExited(Process p)
    {
        try { return p.HasExited; } catch (InvalidOperationException) { return true; }
    }

    private void Write(string line)
    {
        WriteRaw("spotq-worker-service: " + line);
    }

    private void WriteRaw(string line)
    {
        if (line == null) return;
        lock (logLock)
        {
            if (log != null) log.WriteLine(DateTime.UtcNow.ToString("o") + " " + line);
        }
    }
}
`;
