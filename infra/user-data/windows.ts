import { METRIC_DIMENSION, METRIC_NAMESPACE, METRICS } from "../../core/names.ts";
import { BOOT_VARIABLES, placeholder, psQuote } from "./template.ts";
import { BOOT_PATHS, WORKER_SERVICE, bootNames, defaultWorkRoot, workerEnvironment, type BootArtifact, type WorkerBoot } from "./worker-boot.ts";

/** The scheduled task that ships the boot evidence to CloudWatch Logs every minute. */
export const SHIP_LOGS_TASK = "spotq-ship-logs";

/**
 * `spotq-instance.ps1`: the settings and functions the bootstrap, the log-shipping task and the
 * worker service's failure path share, so all three run the same code. Dot-sourced, it only
 * defines; `-Action ship` ships the logs, `-Action leave -Reason r -ExitCode n` is the failure path.
 *
 * The failure path (CONTRACTS §4, "leaves"): say why, count it, ship the evidence, then give the
 * instance back: ABANDON the launch hook while it is pending, else terminate without decrement
 * (Auto Scaling launches a replacement; the boot breaker stops a loop of them). No worker holds the
 * terminate hook any more, so the path completes it (CONTINUE) once the instance waits in it,
 * rather than keep an idle GPU instance for the hook's whole timeout. Every step is tried on its
 * own: a failing one must not skip the next. Shutdown is the last resort. (Comments inside the
 * script cost user data bytes, of which EC2 allows 16 KB.)
 */
export function renderWindowsInstanceScript(boot: WorkerBoot): string {
  const paths = BOOT_PATHS.windows;
  const names = bootNames(boot);
  return String.raw`param([string]$Action = 'none', [string]$Reason = '', [int]$ExitCode = 0)
# spotq instance helpers (rendered by infra/user-data/windows.ts)
$Region = ${psQuote(boot.region)}
$Deployment = ${psQuote(boot.deployment)}
$Group = ${psQuote(placeholder(BOOT_VARIABLES.group))}
$LaunchHook = ${psQuote(names.launchHook)}
$TerminateHook = ${psQuote(names.terminateHook)}
$BootLogGroup = ${psQuote(names.bootLogGroup)}
$BootLog = ${psQuote(paths.bootLog)}
$WorkerLog = ${psQuote(paths.log)}
$SpotqHome = ${psQuote(paths.home)}
$DebugKeepFailedInstances = ${boot.debugKeepFailedInstances ? "$true" : "$false"}

# The AWS Tools' .NET types (log events, metric data) exist only once their module is loaded; AWS
# Windows AMIs ship the AWSPowerShell module, newer images may ship the modular AWS.Tools.
try {
  if (Get-Module -ListAvailable -Name AWSPowerShell) { Import-Module AWSPowerShell }
  else { Import-Module AWS.Tools.Common, AWS.Tools.CloudWatch, AWS.Tools.CloudWatchLogs, AWS.Tools.AutoScaling }
} catch { Write-Output ('spotq: cannot load the AWS Tools for PowerShell: ' + $_) }

function Get-ImdsValue([string]$Path) {
  $token = Invoke-RestMethod -UseBasicParsing -Method Put -Uri 'http://169.254.169.254/latest/api/token' -Headers @{ 'X-aws-ec2-metadata-token-ttl-seconds' = '300' }
  Invoke-RestMethod -UseBasicParsing -Uri ('http://169.254.169.254/latest/' + $Path) -Headers @{ 'X-aws-ec2-metadata-token' = $token }
}

function Get-SpotqInstanceId {
  $file = Join-Path $SpotqHome 'instance-id'
  if (Test-Path $file) { return (Get-Content $file -Raw).Trim() }
  $id = Get-ImdsValue 'meta-data/instance-id'
  try { Set-Content -Path $file -Value $id } catch { }
  return $id
}

# Ships what a log file gained since the last call (a .shipped file keeps the offset), 100 KB per
# call: each line an event, well under PutLogEvents' 10,000 events and 1 MB per batch.
function Send-SpotqLog([string]$File, [string]$Stream) {
  for ($round = 0; $round -lt 20; $round++) {
    if (-not (Test-Path $File)) { return }
    $mark = $File + '.shipped'
    [long]$from = 0
    if (Test-Path $mark) { $from = [long](Get-Content $mark -Raw).Trim() }
    $fs = [IO.File]::Open($File, 'Open', 'Read', 'ReadWrite, Delete')
    try {
      if ($fs.Length -lt $from) { $from = 0 }
      if ($fs.Length -eq $from) { return }
      $fs.Position = $from
      $buffer = New-Object byte[] ([int][Math]::Min($fs.Length - $from, 102400))
      $read = $fs.Read($buffer, 0, $buffer.Length)
    } finally { $fs.Dispose() }
    $now = [DateTime]::UtcNow
    $events = New-Object 'System.Collections.Generic.List[Amazon.CloudWatchLogs.Model.InputLogEvent]'
    foreach ($line in ([Text.Encoding]::UTF8.GetString($buffer, 0, $read) -split '\r?\n')) {
      if ($line.Trim() -eq '') { continue }
      $e = New-Object Amazon.CloudWatchLogs.Model.InputLogEvent
      $e.Message = $line
      $e.Timestamp = $now
      $events.Add($e)
    }
    try { New-CWLLogStream -LogGroupName $BootLogGroup -LogStreamName $Stream -Region $Region } catch { }
    if ($events.Count -gt 0) { Write-CWLLogEvent -LogGroupName $BootLogGroup -LogStreamName $Stream -LogEvent $events -Region $Region | Out-Null }
    Set-Content -Path $mark -Value ($from + $read)
  }
}

# The bootstrap transcript to stream <instance id>, the worker service's output to <instance id>/service.
function Send-SpotqLogs {
  $id = Get-SpotqInstanceId
  Send-SpotqLog $BootLog $id
  Send-SpotqLog $WorkerLog ($id + '/service')
}

function Write-SpotqMetric([string]$Name) {
  $dimension = New-Object Amazon.CloudWatch.Model.Dimension
  $dimension.Name = ${psQuote(METRIC_DIMENSION)}
  $dimension.Value = $Deployment
  $datum = New-Object Amazon.CloudWatch.Model.MetricDatum
  $datum.MetricName = $Name
  $datum.Value = 1
  $datum.Unit = 'Count'
  $datum.Dimensions = New-Object 'System.Collections.Generic.List[Amazon.CloudWatch.Model.Dimension]'
  $datum.Dimensions.Add($dimension)
  Write-CWMetricData -Namespace ${psQuote(METRIC_NAMESPACE)} -MetricData $datum -Region $Region
}

# The failure path (CONTRACTS 4): say why, count, ship the evidence, give the instance back. Each step on its own.
function Invoke-SpotqLeave([string]$Reason, [int]$ExitCode) {
  Write-Output ('spotq: this instance leaves: ' + $Reason + ' (exit code ' + $ExitCode + ')')
  $id = $null
  $state = ''
  try { $id = Get-SpotqInstanceId } catch { Write-Output ('spotq: no instance id from IMDS: ' + $_) }
  if ($id) {
    try { $state = [string](Get-ASAutoScalingInstance -InstanceId $id -Region $Region).LifecycleState } catch { Write-Output ('spotq: cannot read the lifecycle state: ' + $_) }
  }
  $failedBoot = ($Reason -eq 'bootstrap') -or ($ExitCode -eq 2) -or ($ExitCode -eq 3) -or ($state -like 'Pending*')
  $metric = if ($failedBoot) { '${METRICS.bootstrapFailed}' } else { '${METRICS.workerCrashLoop}' }
  try { Write-SpotqMetric $metric; Write-Output ('spotq: counted ' + $metric) } catch { Write-Output ('spotq: cannot put the ' + $metric + ' metric: ' + $_) }
  try { Send-SpotqLogs } catch { Write-Output ('spotq: cannot ship the logs: ' + $_) }
  if ($DebugKeepFailedInstances) {
    Write-Output 'spotq: fleet.debugKeepFailedInstances is on: this instance stays for a look (SSM Session Manager); terminate it when done'
    return
  }
  $gone = $false
  if ($id -and ($state -eq 'Pending:Wait')) {
    try {
      Complete-ASLifecycleAction -AutoScalingGroupName $Group -LifecycleHookName $LaunchHook -InstanceId $id -LifecycleActionResult ABANDON -Region $Region | Out-Null
      Write-Output ('spotq: abandoned the launch of ' + $id)
      $gone = $true
    } catch { Write-Output ('spotq: cannot abandon the launch: ' + $_) }
  }
  if ($id -and -not $gone -and ($state -ne 'Terminating:Wait')) {
    try {
      Stop-ASInstanceInAutoScalingGroup -InstanceId $id -ShouldDecrementDesiredCapacity $false -Region $Region -Force | Out-Null
      Write-Output ('spotq: asked Auto Scaling to replace ' + $id)
      $gone = $true
    } catch { Write-Output ('spotq: cannot terminate through Auto Scaling: ' + $_) }
  }
  if ($id -and (($gone -and $state -ne 'Pending:Wait') -or $state -eq 'Terminating:Wait')) {
    for ($i = 0; $state -ne 'Terminating:Wait' -and $i -lt 30; $i++) { Start-Sleep 2; try { $state = [string](Get-ASAutoScalingInstance -InstanceId $id -Region $Region).LifecycleState } catch { } }
    try { Complete-ASLifecycleAction -AutoScalingGroupName $Group -LifecycleHookName $TerminateHook -InstanceId $id -LifecycleActionResult CONTINUE -Region $Region | Out-Null; $gone = $true } catch { }
  }
  try { Send-SpotqLogs } catch { }
  if (-not $gone) {
    Write-Output 'spotq: shutting down (the launch template terminates on shutdown)'
    Stop-Computer -Force
  }
}

if ($Action -eq 'ship') { Send-SpotqLogs }
elseif ($Action -eq 'leave') { Invoke-SpotqLeave $Reason $ExitCode }
`;
}

function artifactTable(boot: WorkerBoot): string {
  const row = (name: string, a: BootArtifact) =>
    `  ${name} = @{ Key = ${psQuote(a.key)}; Version = ${psQuote(placeholder(a.version))}; Sha256 = ${psQuote(a.sha256)} }`;
  const rows = [row("worker", boot.artifacts.worker), row("config", boot.artifacts.config)];
  if (boot.artifacts.service) rows.push(row("service", boot.artifacts.service));
  if (boot.artifacts.node) rows.push(row("node", boot.artifacts.node));
  return `@{\n${rows.join("\n")}\n}`;
}

/**
 * The PowerShell user data of a Windows worker (EC2Launch runs it once, as Administrator).
 * It uses only what AWS Windows AMIs ship: Windows PowerShell 5.1, the AWS Tools for PowerShell
 * (S3, CloudWatch, CloudWatch Logs, Auto Scaling, SSM cmdlets) and the .NET Framework compiler.
 *
 * Order matters: the helpers are defined before anything runs, and every step, from creating
 * the first folder and starting the transcript on, is inside the `try` whose `catch` is the
 * failure path. The transcript is shipped to CloudWatch Logs first, and every minute after.
 */
export function renderWindowsBoot(boot: WorkerBoot): string {
  if (!boot.artifacts.service) throw new Error("a Windows boot needs the service wrapper artifact");
  const paths = BOOT_PATHS.windows;
  const env = workerEnvironment(boot)
    .map(([k, v]) => `  ${psQuote(`${k}=${v}`)}`)
    .join("\n");
  const node = boot.artifacts.node;
  const interactive = boot.session === "interactive";
  const autoLogon = boot.autoLogon;
  if (interactive && !autoLogon) throw new Error("an interactive session needs processor.autoLogon");
  return String.raw`<powershell>
# spotq worker bootstrap (rendered by infra/user-data/windows.ts)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$InstanceScript = @'
${renderWindowsInstanceScript(boot)}'@
. ([ScriptBlock]::Create($InstanceScript))
$ArtifactsBucket = ${psQuote(placeholder(BOOT_VARIABLES.artifactsBucket))}
$Artifacts = ${artifactTable(boot)}
$NodeMajor = ${boot.nodeMajor}
$ServiceName = ${psQuote(WORKER_SERVICE)}
$WorkerFile = ${psQuote(paths.worker)}
$ConfigFile = ${psQuote(paths.config)}
$EnvFile = ${psQuote(paths.env)}
$StopFile = ${psQuote(paths.stopFile)}
$InstanceFile = ${psQuote(paths.instanceScript)}
$WorkRoot = ${psQuote(boot.workRoot ?? defaultWorkRoot("windows"))}
$WorkerEnvironment = @(
${env}
)

# Fetches the exact version the launch template names, and refuses bytes that are not the ones synthesized.
function Get-SpotqArtifact([hashtable]$Artifact, [string]$File) {
  Read-S3Object -BucketName $ArtifactsBucket -Key $Artifact.Key -Version $Artifact.Version -File $File -Region $Region | Out-Null
  $hash = (Get-FileHash -Algorithm SHA256 -Path $File).Hash.ToLowerInvariant()
  if ($hash -ne $Artifact.Sha256) { throw ('checksum mismatch for s3://' + $ArtifactsBucket + '/' + $Artifact.Key + ' (' + $Artifact.Version + '): ' + $hash + ', expected ' + $Artifact.Sha256) }
}

function Get-NodeMajor([string]$Exe) {
  if (-not $Exe) { return 0 }
  try { return [int]((& $Exe --version).Trim().TrimStart('v').Split('.')[0]) } catch { return 0 }
}
${
  interactive
    ? String.raw`
# processor.session "interactive": Windows logs this user on at boot, and the worker starts in its desktop session.
function Enable-SpotqAutoLogon([string]$User, [string]$PasswordParameter) {
  $password = (Get-SSMParameterValue -Name $PasswordParameter -WithDecryption $true -Region $Region).Parameters[0].Value
  if (-not $password) { throw ('the SSM parameter ' + $PasswordParameter + ' (processor.autoLogon.passwordParameter) is missing or empty') }
  $secure = ConvertTo-SecureString $password -AsPlainText -Force
  if (Get-LocalUser -Name $User -ErrorAction SilentlyContinue) { Set-LocalUser -Name $User -Password $secure -PasswordNeverExpires $true }
  else { New-LocalUser -Name $User -Password $secure -PasswordNeverExpires -AccountNeverExpires -Description 'spotq: runs the worker in a desktop session' | Out-Null }
  foreach ($folder in @($SpotqHome, $WorkRoot)) { & icacls.exe $folder /grant ($User + ':(OI)(CI)M') | Out-Null }
  $winlogon = 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Winlogon'
  Set-ItemProperty -Path $winlogon -Name AutoAdminLogon -Value '1'
  Set-ItemProperty -Path $winlogon -Name DefaultUserName -Value $User
  Set-ItemProperty -Path $winlogon -Name DefaultDomainName -Value $env:COMPUTERNAME
  Set-ItemProperty -Path $winlogon -Name DefaultPassword -Value $password
  Remove-ItemProperty -Path $winlogon -Name AutoLogonCount -ErrorAction SilentlyContinue
}
`
    : ""
}
try {
  New-Item -ItemType Directory -Force -Path $SpotqHome, (Split-Path -Parent $StopFile) | Out-Null
  Start-Transcript -Path $BootLog -Append | Out-Null
  # 0. Evidence before anything else can fail: ship the transcript now and every minute from now on.
  Set-Content -Path $InstanceFile -Value $InstanceScript -Encoding UTF8
  $ship = New-ScheduledTaskAction -Execute 'powershell.exe' -Argument ('-NoProfile -NonInteractive -ExecutionPolicy Bypass -File "' + $InstanceFile + '" -Action ship')
  $everyMinute = New-ScheduledTaskTrigger -Once -At (Get-Date) -RepetitionInterval (New-TimeSpan -Minutes 1)
  Register-ScheduledTask -TaskName '${SHIP_LOGS_TASK}' -Action $ship -Trigger $everyMinute -User 'SYSTEM' -RunLevel Highest -Force | Out-Null
  Send-SpotqLogs
  New-Item -ItemType Directory -Force -Path $WorkRoot | Out-Null
  [Net.ServicePointManager]::SecurityProtocol = [Net.SecurityProtocolType]::Tls12

  # 1. Node.js: ${node ? "the pinned release from the artifacts bucket (fleet.artifacts.node), checked against its SHA-256" : "the AMI's own (fleet.artifacts.node pins one in the artifacts bucket instead)"}.
${
  node
    ? String.raw`  $NodeVersion = ${psQuote(node.release)}
  $zip = Join-Path $env:TEMP ('node-v' + $NodeVersion + '-win-x64.zip')
  Get-SpotqArtifact $Artifacts.node $zip
  Expand-Archive -Path $zip -DestinationPath $SpotqHome -Force
  Remove-Item -Path $zip
  $NodeExe = Join-Path $SpotqHome ('node-v' + $NodeVersion + '-win-x64\node.exe')
  if ((& $NodeExe --version).Trim() -ne ('v' + $NodeVersion)) { throw ('the archive does not hold Node.js ' + $NodeVersion) }`
    : String.raw`  $NodeExe = $null
  $found = Get-Command node.exe -ErrorAction SilentlyContinue
  if ($found) { $NodeExe = $found.Source }
  if ((Get-NodeMajor $NodeExe) -lt $NodeMajor) { throw ('no Node.js ' + $NodeMajor + ' or newer on this AMI: install it in the AMI, or pin a release in fleet.artifacts.node (npm run fetch:node)') }`
}
  Write-Output ('spotq: node ' + (& $NodeExe --version) + ' at ' + $NodeExe)

  # 2. The worker bundle and the fleet config, exactly the versions this launch template names.
  Get-SpotqArtifact $Artifacts.worker $WorkerFile
  Get-SpotqArtifact $Artifacts.config $ConfigFile
  Set-Content -Path $EnvFile -Value $WorkerEnvironment -Encoding UTF8

  # 3. The program that runs the worker: restarts crashes with backoff, leaves on exit 2 or 3 or
  #    a crash loop, and stops it gracefully through the stop file.
  $Wrapper = Join-Path $SpotqHome 'spotq-worker-service.exe'
  $WrapperSource = Join-Path $SpotqHome 'spotq-worker-service.cs'
  Get-SpotqArtifact $Artifacts.service $WrapperSource
  Add-Type -Path $WrapperSource -ReferencedAssemblies 'System.ServiceProcess' -OutputAssembly $Wrapper -OutputType ConsoleApplication
  $wrapperArgs = '"{0}" "{1}" "{2}" "{3}" "{4}"' -f $NodeExe, $WorkerFile, $WorkerLog, $EnvFile, $InstanceFile
${
  interactive
    ? String.raw`
  # 4. processor.session "interactive": auto-logon, and the worker from a task at that user's logon.
  Enable-SpotqAutoLogon ${psQuote(autoLogon!.user)} ${psQuote(autoLogon!.passwordParameter)}
  $run = New-ScheduledTaskAction -Execute $Wrapper -Argument ('--console ' + $wrapperArgs) -WorkingDirectory $SpotqHome
  $atLogon = New-ScheduledTaskTrigger -AtLogOn -User ${psQuote(autoLogon!.user)}
  $asUser = New-ScheduledTaskPrincipal -UserId ${psQuote(autoLogon!.user)} -LogonType Interactive -RunLevel Highest
  $settings = New-ScheduledTaskSettingsSet -ExecutionTimeLimit ([TimeSpan]::Zero) -MultipleInstances IgnoreNew -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries
  Register-ScheduledTask -TaskName $ServiceName -Action $run -Trigger $atLogon -Principal $asUser -Settings $settings -Force | Out-Null
  Send-SpotqLogs
  Write-Output ('spotq: restarting to log ' + ${psQuote(autoLogon!.user)} + ' on; the worker starts in its session')
  & shutdown.exe /r /t 20 /c 'spotq: auto-logon for the worker session' | Out-Null`
    : String.raw`
  # 4. processor.session "service": a Windows service (LocalSystem, session 0).
  if (Get-Service -Name $ServiceName -ErrorAction SilentlyContinue) {
    Stop-Service -Name $ServiceName -Force
    & sc.exe delete $ServiceName | Out-Null
  }
  New-Service -Name $ServiceName -BinaryPathName ('"' + $Wrapper + '" ' + $wrapperArgs) -DisplayName 'spotq worker' -Description 'Runs spotq jobs from the queue' -StartupType Automatic | Out-Null
  # The wrapper restarts the worker itself; Windows restarts the wrapper only if it crashes.
  & sc.exe failure $ServiceName reset= 86400 actions= restart/10000/restart/10000/restart/10000 | Out-Null
  Start-Service -Name $ServiceName
  Write-Output 'spotq: worker service started'
  Send-SpotqLogs`
}
} catch {
  Write-Output ('spotq: bootstrap failed: ' + $_)
  Invoke-SpotqLeave 'bootstrap' 1
  try { Stop-Transcript | Out-Null } catch { }
  exit 1
}
try { Stop-Transcript | Out-Null } catch { }
</powershell>
<persist>false</persist>
`;
}
